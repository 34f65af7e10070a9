#include "shapes.h"

namespace {
struct Square : Shape {
  double side;
  explicit Square(double s) : side(s) {}
  double area() const override { return side * side; }
  std::string name() const override { return "square " + std::to_string(side); }
};
struct Circle : Shape {
  double r;
  explicit Circle(double radius) : r(radius) {}
  double area() const override { return 3.14159 * r * r; }
  std::string name() const override { return "circle " + std::to_string(r); }
};
}  // namespace

std::vector<std::unique_ptr<Shape>> make_shapes(int n) {
  std::vector<std::unique_ptr<Shape>> out;
  for (int i = 0; i < n; ++i) {
    if (i % 2) out.push_back(std::make_unique<Square>(i));
    else out.push_back(std::make_unique<Circle>(i));
  }
  return out;
}
