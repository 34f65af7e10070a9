// Clean: the C and C++ runtimes' own buffers (iostream, stdio, locale, exceptions, dlerror,
// getpwuid, strtok) are not leaks.
#include <dlfcn.h>
#include <pwd.h>
#include <unistd.h>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
int main() {
  std::ostringstream out;
  out << "hello " << 42 << ' ' << 3.5;
  std::cout << out.str().size() << std::endl;
  std::printf("%s %d\n", "stdio", 7);
  try {
    throw std::runtime_error(std::string(200, 'e'));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%zu\n", std::string(e.what()).size());
  }
  if (dlopen("/nonexistent/libnothing.so", RTLD_NOW) == nullptr) (void)dlerror();
  if (struct passwd* pw = getpwuid(getuid())) (void)pw->pw_name;
  return 0;
}
