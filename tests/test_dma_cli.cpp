// memkit — DMA buffers through the command line (tests/test_dma_cli.cpp): `memkit v2p --dma`
// (its handle against its own pagemap translation, the marks of the VMA, the refusal over
// RLIMIT_MEMLOCK as nobody) and `memkit maps` marking the locked and huge-page regions of a
// process that holds DMA buffers (this test).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memkit/dma.h"
#include "test_support.h"

#ifndef MEMKIT_CLI_PATH
#error "test_dma_cli needs MEMKIT_CLI_PATH, the path of the built memkit binary"
#endif

namespace {

using nlohmann::json;
using namespace memkit::testing;

class DmaCli : public ScratchDirTest {
 protected:
  Result memkit(std::vector<std::string> args) const {
    args.insert(args.begin(), MEMKIT_CLI_PATH);
    return run(args);
  }
  json memkit_json(std::vector<std::string> args) const {
    args.push_back("--json");
    const Result r = memkit(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
};

TEST_F(DmaCli, V2pDmaTranslatesItsOwnBuffer) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{}, {"--no-hugetlb", "--no-thp"}}) {
    std::vector<std::string> args = {"v2p", "--dma", "3M"};
    args.insert(args.end(), flags.begin(), flags.end());
    const json j = memkit_json(args);
    const json& d = j["dma"];
    EXPECT_EQ(d["size"], 3u << 20);
    EXPECT_NE(d["flags"].get<std::string>().find("locked"), std::string::npos);
    const json& first = j["addresses"][0];
    EXPECT_EQ(first["address"], d["vaddr"]);
    EXPECT_EQ(first["present"], true);  // locked: resident
    if (geteuid() == 0) {
      EXPECT_EQ(d["dma_addr"], first["physical"]) << "the handle is not what pagemap says";
    } else {
      EXPECT_TRUE(d["dma_addr"].is_null());
    }
    if (!flags.empty()) {
      EXPECT_EQ(d["page_size"], static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
      EXPECT_EQ(d["mapped"], 3u << 20);
    }
  }
  const Result r = memkit({"v2p", "--dma", "64K", "--no-thp"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("DMA buffer: mk_dma_alloc_coherent(65536) = 0x"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[locked"), std::string::npos) << r.out;
}

TEST_F(DmaCli, V2pDmaErrors) {
  Result r = memkit({"v2p", "--dma", "12x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is not a size"), std::string::npos) << r.err;
  r = memkit({"v2p", "1", "--dma", "4K"});
  EXPECT_EQ(r.status, 2);
  r = memkit({"v2p"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("PID and ADDR are required"), std::string::npos) << r.err;
  // As nobody (no CAP_IPC_LOCK), over RLIMIT_MEMLOCK: one line, status 1.
  if (geteuid() != 0 || !have("setpriv")) GTEST_SKIP() << "needs root and setpriv";
  r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "prlimit",
           "--memlock=1048576", MEMKIT_CLI_PATH, "v2p", "--dma", "4M"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("memkit: mk_dma_alloc_coherent(4194304): Cannot allocate memory"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("RLIMIT_MEMLOCK: 1.0 MiB"), std::string::npos) << r.err;
}

TEST_F(DmaCli, MapsMarksLockedAndHugeRegions) {
  mk_dma_addr_t dma_pages, dma_thp;
  void* pages = mk_dma_alloc_coherent(5 * 4096, &dma_pages, MK_DMA_NO_HUGETLB | MK_DMA_NO_THP);
  ASSERT_NE(pages, nullptr);
  void* thp = mk_dma_alloc_coherent(2 << 20, &dma_thp, MK_DMA_NO_HUGETLB);
  ASSERT_NE(thp, nullptr);
  mk_dma_info thp_info{};
  ASSERT_EQ(mk_dma_get_info(thp, &thp_info), 0);

  const json j = memkit_json({"maps", std::to_string(getpid())});
  bool saw_pages = false, saw_thp = false;
  size_t locked_regions = 0;
  for (const json& r : j["regions"]) {
    const auto start = r["start"].get<uint64_t>();
    if (r["locked"].get<bool>()) ++locked_regions;
    if (start == reinterpret_cast<uint64_t>(pages)) {
      saw_pages = true;
      EXPECT_TRUE(r["locked"].get<bool>());
      EXPECT_EQ(r["thp"], 0u);
      EXPECT_FALSE(r["hugetlb"].get<bool>());
    }
    if (start == reinterpret_cast<uint64_t>(thp)) {
      saw_thp = true;
      EXPECT_TRUE(r["locked"].get<bool>());
      if (thp_info.flags & MK_DMA_INFO_THP) {
        EXPECT_EQ(r["thp"], 2u << 20);
      }
    }
  }
  EXPECT_TRUE(saw_pages && saw_thp);
  EXPECT_GE(locked_regions, 2u);

  const Result text = memkit({"maps", std::to_string(getpid())});
  ASSERT_EQ(text.status, 0) << text.err;
  char addr[32];
  std::snprintf(addr, sizeof addr, "%016lx", reinterpret_cast<unsigned long>(pages));
  bool marked = false;
  for (const std::string& line : lines_of(text.out))
    if (line.rfind(addr, 0) == 0) marked = line.ends_with("[anon] [locked]");
  EXPECT_TRUE(marked) << text.out;
  mk_dma_free_coherent(5 * 4096, pages, dma_pages);
  mk_dma_free_coherent(2 << 20, thp, dma_thp);
}

}  // namespace
