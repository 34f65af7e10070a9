// memkit — the dlopen'ed half of tests/preload/init_order.cpp: a constructor and a destructor
// that allocate, a thread_local whose destructor frees, and functions that hand blocks across
// the library boundary both ways.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

namespace {

std::vector<std::string>* g_words;  // made by the constructor, freed by the destructor

__attribute__((constructor)) void lib_init() {
  g_words = new std::vector<std::string>;
  for (int i = 0; i < 100; ++i) g_words->push_back("word-" + std::to_string(i) + std::string(i, 'x'));
  printf("lib: constructor made %zu words\n", g_words->size());
}

__attribute__((destructor)) void lib_fini() {
  size_t bytes = 0;
  for (const std::string& w : *g_words) bytes += w.size();
  delete g_words;
  char* last = strdup("lib: destructor freed the words");
  printf("%s (%zu bytes)\n", last, bytes);
  free(last);
}

thread_local std::string t_name;

}  // namespace

// A block the caller frees with free().
extern "C" char* lib_make(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  t_name = s.substr(0, 8);  // a thread_local string, freed when the thread exits
  return strdup(s.c_str());
}

// Frees a block the caller allocated with malloc().
extern "C" size_t lib_take(char* p) {
  const size_t n = strlen(p);
  free(p);
  return n;
}
