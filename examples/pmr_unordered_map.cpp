// memkit example: std::pmr::unordered_map on kmalloc and on a slab cache (memkit/pmr.hpp).
//
// KmallocResource serves any size from kmalloc's size classes. SlabCacheResource serves
// requests that fit its objects (here: the map's nodes) from its own cache and passes the rest
// (the bucket array) to its upstream resource: here kmalloc.
#include <algorithm>
#include <cstdio>
#include <memory_resource>
#include <string>
#include <string_view>
#include <unordered_map>

#include <memkit/pmr.hpp>

static constexpr std::string_view kText =
    "the buddy system splits and coalesces pages the slab allocator carves objects out of "
    "buddy blocks kmalloc puts size classes on top of the slab allocator and the pages";

int main() {
  memkit::KmallocResource kmalloc;

  // Word counts, keys and map both on kmalloc (pmr propagates the resource to the strings).
  std::pmr::unordered_map<std::pmr::string, int> counts(&kmalloc);
  int words = 0;
  for (size_t at = 0; at < kText.size(); ++words) {
    const size_t end = std::min(kText.find(' ', at), kText.size());
    ++counts[std::pmr::string(kText.substr(at, end - at), &kmalloc)];
    at = end + 1;
  }
  std::printf("%d words, %zu distinct; 'the' x%d, 'slab' x%d, 'buddy' x%d\n", words,
              counts.size(), counts["the"], counts["slab"], counts["buddy"]);

  // Node-sized requests from a cache of 64-byte objects, bucket arrays from kmalloc.
  memkit::SlabCacheResource nodes("squares-nodes", 64, 16, 0, &kmalloc);
  std::pmr::unordered_map<int, long> squares(&nodes);
  for (int i = 0; i < 100000; ++i) squares.emplace(i, static_cast<long>(i) * i);
  std::printf("%zu squares; 99999^2 = %ld\n", squares.size(), squares.at(99999));

  return counts["the"] == 4 && words == 29 && squares.at(99999) == 9999800001L ? 0 : 1;
}
