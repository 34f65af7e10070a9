#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shapes.h"

int main() {
  // std containers from several threads, then a deterministic summary.
  std::map<std::string, double> areas;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        auto shapes = make_shapes(200 + t);
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& s : shapes) areas[s->name()] += s->area();
      }
    });
  for (auto& th : threads) th.join();
  double total = 0;
  for (const auto& [name, area] : areas) total += area;
  std::printf("%zu shapes, total area %.1f\n", areas.size(), total);
  return 0;
}
