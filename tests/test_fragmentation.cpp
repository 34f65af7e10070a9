// Tests the kernel's fragmentation figures (include/memkit/fragmentation.hpp) on the worked
// examples of mm/vmstat.c: fill_contig_page_info, unusable_free_index, fragmentation_index
// (including its negative non -1000 case), extfrag_for_order and format_index, whose expected
// strings are worked out by hand from the kernel's "%d.%03d" / "%2d.%03d".
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "memkit/fragmentation.hpp"

namespace {

using memkit::extfrag_for_order;
using memkit::fill_contig_page_info;
using memkit::format_index;
using memkit::fragmentation_index;
using memkit::unusable_free_index;

// The research machine's DMA zone: buddyinfo "0 0 0 0 0 0 0 0 1 1 3", F = 256 + 512 + 3072.
const uint64_t kDma[11] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3};
// One free order-2 block.
const uint64_t kOneOrder2[11] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
const uint64_t kNothing[11] = {};

std::string formatted(int idx, int width) {
  char buf[32];
  const int n = format_index(buf, sizeof buf, idx, width);
  EXPECT_EQ(n, static_cast<int>(std::string(buf).size()));
  return buf;
}

TEST(Fragmentation, FillContigPageInfo) {
  auto info = fill_contig_page_info(kDma, 10, 9);
  EXPECT_EQ(info.free_pages, 3840u);
  EXPECT_EQ(info.free_blocks_total, 5u);
  EXPECT_EQ(info.free_blocks_suitable, 7u);  // 1 order-9 + 3 order-10 counted twice
  info = fill_contig_page_info(kDma, 10, 10);
  EXPECT_EQ(info.free_blocks_suitable, 3u);
  info = fill_contig_page_info(kDma, 10, 0);
  EXPECT_EQ(info.free_blocks_suitable, 3840u);
  // max_order bounds the sum: orders above it are not read.
  info = fill_contig_page_info(kDma, 8, 0);
  EXPECT_EQ(info.free_pages, 256u);
  EXPECT_EQ(info.free_blocks_total, 1u);
}

TEST(Fragmentation, UnusableIndexOnTheDmaZone) {
  EXPECT_EQ(unusable_free_index(kDma, 10, 0), 0);
  EXPECT_EQ(unusable_free_index(kDma, 10, 8), 0);
  EXPECT_EQ(unusable_free_index(kDma, 10, 9), 66);    // 256000 / 3840 = 66.67
  EXPECT_EQ(unusable_free_index(kDma, 10, 10), 200);  // 768000 / 3840
}

TEST(Fragmentation, UnusableIndexWithNothingFree) {
  for (unsigned j = 0; j <= 10; ++j) EXPECT_EQ(unusable_free_index(kNothing, 10, j), 1000) << j;
}

TEST(Fragmentation, UnusableIndexWhenNoBlockIsLargeEnough) {
  EXPECT_EQ(unusable_free_index(kOneOrder2, 10, 3), 1000);
  EXPECT_EQ(unusable_free_index(kOneOrder2, 10, 2), 0);
}

TEST(Fragmentation, FragmentationIndexIsMinus1000WhenARequestWouldSucceed) {
  for (unsigned j = 0; j <= 10; ++j) EXPECT_EQ(fragmentation_index(kDma, 10, j), -1000) << j;
  EXPECT_EQ(fragmentation_index(kOneOrder2, 10, 2), -1000);
}

TEST(Fragmentation, FragmentationIndexNegativeButNotMinus1000) {
  // F = 4, B = 1, S = 0: 1000 - (1000 + 4 * 1000 / 16) / 1 = -250.
  EXPECT_EQ(fragmentation_index(kOneOrder2, 10, 4), -250);
  // j = 3: 1000 - (1000 + 500) / 1 = -500.
  EXPECT_EQ(fragmentation_index(kOneOrder2, 10, 3), -500);
}

TEST(Fragmentation, FragmentationIndexTowardLackOfMemoryOrFragmentation) {
  const uint64_t one_page[11] = {1};
  // 1000 - (1000 + 1000 / 1024) / 1 = 0: a lack of memory, not fragmentation.
  EXPECT_EQ(fragmentation_index(one_page, 10, 10), 0);
  const uint64_t many_pages[11] = {1024};
  // 1000 - (1000 + 1024000 / 1024) / 1024 = 1000 - 1 = 999: fragmentation.
  EXPECT_EQ(fragmentation_index(many_pages, 10, 10), 999);
  const uint64_t eight_pages[11] = {8};
  // 1000 - (1000 + 8000 / 8) / 8 = 750.
  EXPECT_EQ(fragmentation_index(eight_pages, 10, 3), 750);
}

TEST(Fragmentation, FragmentationIndexWithNothingFreeOrOrderTooLarge) {
  for (unsigned j = 0; j <= 10; ++j) EXPECT_EQ(fragmentation_index(kNothing, 10, j), 0) << j;
  EXPECT_EQ(fragmentation_index(kDma, 10, 11), 0);
  EXPECT_EQ(fragmentation_index(kOneOrder2, 3, 4), 0);  // would be -250 were 4 <= max_order
}

TEST(Fragmentation, ExtfragForOrderIsThePercentVersion) {
  EXPECT_EQ(extfrag_for_order(kDma, 10, 0), 0);
  EXPECT_EQ(extfrag_for_order(kDma, 10, 9), 6);    // 25600 / 3840 = 6.67
  EXPECT_EQ(extfrag_for_order(kDma, 10, 10), 20);  // 76800 / 3840
  EXPECT_EQ(extfrag_for_order(kOneOrder2, 10, 3), 100);
  EXPECT_EQ(extfrag_for_order(kNothing, 10, 9), 0);
}

TEST(Fragmentation, FormatIndexAsTheKernelPrintsIt) {
  // Unusable index: "%d.%03d".
  EXPECT_EQ(formatted(0, 1), "0.000");
  EXPECT_EQ(formatted(66, 1), "0.066");
  EXPECT_EQ(formatted(200, 1), "0.200");
  EXPECT_EQ(formatted(1000, 1), "1.000");
  // Fragmentation index: "%2d.%03d".
  EXPECT_EQ(formatted(-1000, 2), "-1.000");
  EXPECT_EQ(formatted(750, 2), " 0.750");
  EXPECT_EQ(formatted(0, 2), " 0.000");
  // -250 / 1000 == 0 and -250 % 1000 == -250: the kernel's odd " 0.-250".
  EXPECT_EQ(formatted(-250, 2), " 0.-250");
}

TEST(Fragmentation, FormatIndexReportsTheLengthItNeeds) {
  EXPECT_EQ(format_index(nullptr, 0, 66, 1), 5);
  EXPECT_EQ(format_index(nullptr, 0, -250, 2), 7);
}

}  // namespace
