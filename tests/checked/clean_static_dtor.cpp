// Clean: memory kept reachable from globals until exit (not a leak), and a static destructor
// that frees after main returned.
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>
struct Registry {
  std::map<std::string, std::vector<int>> items;
  char* buffer = static_cast<char*>(std::malloc(4096));
  ~Registry() { std::free(buffer); }
};
static Registry g_registry;
static char* g_kept;                  // reachable at exit: not a leak
static std::vector<std::string>* g_list;  // and what it points to, transitively
int main() {
  for (int i = 0; i < 50; ++i) g_registry.items["key" + std::to_string(i)].push_back(i);
  std::memset(g_registry.buffer, 0, 4096);
  g_kept = static_cast<char*>(std::malloc(1000));
  g_list = new std::vector<std::string>;
  for (int i = 0; i < 20; ++i) g_list->push_back(std::string(40, static_cast<char>('a' + i)));
  return 0;
}
