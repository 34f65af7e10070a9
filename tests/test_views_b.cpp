// memkit — the /proc views of part B through the command line (tests/test_views_b.cpp):
// buddyinfo, slabinfo, slabtop, ps, maps and v2p.
//
// Runs the built binary (MEMKIT_CLI_PATH) as a user would:
//   - on snapshots (--proc-root): the captured fixtures of tests/data and trees made here
//     (ps over several processes, v2p over a hand-written pagemap), exact figures;
//   - on malformed snapshots: one "memkit: <file>: ..." line, exit status 1, nothing on stdout;
//   - live, against procps on a `sleep` started here: pmap -x totals, ps -o rss, slabtop -o's
//     summary (exactly, on one copy of /proc/slabinfo bind-mounted for slabtop in a private
//     mount namespace; with bracketing reads where that is impossible), smem's USS and RSS;
//   - unprivileged (as nobody through setpriv when run as root, else as the user running the
//     test): the permission errors and the hidden PFN.
// Live checks that cannot run here (no procps, no setpriv, not root) are skipped with the
// reason.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

#ifndef MEMKIT_CLI_PATH
#error "test_views_b needs MEMKIT_CLI_PATH, the path of the built memkit binary"
#endif

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kData = std::string(MEMKIT_SOURCE_DIR) + "/tests/data";
const std::vector<std::string> kNobody = {"setpriv", "--reuid=65534", "--regid=65534",
                                          "--clear-groups"};

using namespace memkit::testing;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// An address in the top page of the process's [stack] (surely touched), 0 if none.
uint64_t stack_top(pid_t pid) {
  for (const std::string& line : lines_of(slurp("/proc/" + std::to_string(pid) + "/maps"))) {
    if (line.find("[stack]") == std::string::npos) continue;
    const size_t dash = line.find('-');
    return std::stoull(line.substr(dash + 1, line.find(' ') - dash - 1), nullptr, 16) - 8;
  }
  return 0;
}

class ViewsB : public ScratchDirTest {
 protected:
  void TearDown() override {
    for (const pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    ScratchDirTest::TearDown();
  }

  Result memkit(std::vector<std::string> args, bool as_nobody = false) const {
    args.insert(args.begin(), MEMKIT_CLI_PATH);
    if (as_nobody) args.insert(args.begin(), kNobody.begin(), kNobody.end());
    return run(args);
  }

  json memkit_json(std::vector<std::string> args) const {
    args.push_back("--json");
    const Result r = memkit(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  }

  // Starts `sleep 30` (as nobody when asked) and waits until it sleeps in the new image.
  pid_t start_sleep(bool as_nobody = false) {
    std::vector<std::string> args = {"sleep", "30"};
    if (as_nobody) args.insert(args.begin(), kNobody.begin(), kNobody.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
    children_.push_back(pid);
    const std::string status_path = "/proc/" + std::to_string(pid) + "/status";
    for (int i = 0; i < 200; ++i) {
      const std::string status = slurp(status_path);
      if (status.find("Name:\tsleep") != std::string::npos &&
          status.find("State:\tS") != std::string::npos)
        return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pid;
  }

  std::vector<pid_t> children_;
};

// ------------------------------------------------------------------------------ buddyinfo

TEST_F(ViewsB, BuddyinfoOnTheCapturedFiles) {
  const Result r = memkit({"buddyinfo", "--proc-root", kData + "/buddyinfo"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Node 0, zone DMA: 3840 free pages (15.0 MiB), largest free block order "
                       "10\n"),
            std::string::npos)
      << r.out;
  // Order 9 of DMA: 1 block, 512 pages, unusable 0.066 (the kernel's debugfs value).
  EXPECT_NE(r.out.find("      9         1        512    2.0 MiB    0.066   -1.000  ████▎\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Node 0, zone Normal:"), std::string::npos);

  const json j = memkit_json({"buddyinfo", "--proc-root", kData + "/buddyinfo"});
  ASSERT_EQ(j["zones"].size(), 3u);
  EXPECT_EQ(j["orders"], 11);
  EXPECT_EQ(j["zones"][0]["free_pages"], 3840);
  EXPECT_EQ(j["zones"][0]["unusable_index"][9], 66);
  EXPECT_EQ(j["zones"][0]["unusable_index"][10], 200);
  EXPECT_EQ(j["zones"][0]["extfrag_index"][10], -1000);
  EXPECT_EQ(j["zones"][1]["free_blocks"][10], 752);
  EXPECT_FALSE(j.contains("pageblock_order"));

  const Result b = memkit({"buddyinfo", "-b", "--proc-root", kData + "/buddyinfo"});
  EXPECT_NE(b.out.find("3840 free pages (15728640)"), std::string::npos) << b.out;
}

TEST_F(ViewsB, BuddyinfoPagetypeOnTheCapturedFiles) {
  const json j = memkit_json({"buddyinfo", "--pagetype", "--proc-root", kData + "/buddyinfo"});
  EXPECT_EQ(j["pageblock_order"], 9);
  EXPECT_EQ(j["pages_per_block"], 512);
  EXPECT_EQ(j["zones"][1]["free_blocks_by_type"]["Movable"][10], 752);
  EXPECT_EQ(j["zones"][1]["pageblocks_by_type"]["Movable"], 1528);
  const Result r = memkit({"buddyinfo", "--pagetype", "--proc-root", kData + "/buddyinfo"});
  EXPECT_NE(r.out.find("free blocks by migrate type (/proc/pagetypeinfo):"), std::string::npos);
  EXPECT_NE(r.out.find("pageblocks: order 9, 512 pages each"), std::string::npos);
}

TEST_F(ViewsB, MalformedFilesAreOneLineAndNothingPrinted) {
  const std::string good = slurp(kData + "/buddyinfo/buddyinfo");
  spit(path("cut/buddyinfo"), good.substr(0, good.size() - 10));
  Result r = memkit({"buddyinfo", "--proc-root", path("cut")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find("memkit: " + path("cut") + "/buddyinfo: line 3: truncated: the last line"),
            0u)
      << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u);

  spit(path("bad/slabinfo"), "slabinfo - version: 2.1\n# name ...\nfoo 1 2 3\n");
  r = memkit({"slabtop", "--proc-root", path("bad")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "memkit: " + path("bad") +
                       "/slabinfo: line 3: expected \"NAME A N SIZE OBJ/SLAB PAGES/SLAB : "
                       "tunables L B S : slabdata A N S\", got \"foo 1 2 3\"\n");

  // A buddyinfo that parses, with a pagetypeinfo that does not: still nothing printed.
  spit(path("pt/buddyinfo"), good);
  spit(path("pt/pagetypeinfo"), "Page block order: 9\n");
  r = memkit({"buddyinfo", "--pagetype", "--proc-root", path("pt")});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "memkit: " + path("pt") + "/pagetypeinfo: line 2: the file ends too early\n");
}

// ------------------------------------------------------------------------------ slabinfo

TEST_F(ViewsB, SlabtopOnTheCapturedFileIsSlabtops) {
  const std::string root = kData + "/slabinfo";
  const std::vector<std::string> want = lines_of(slurp(root + "/slabtop_o.txt"));
  const Result r = memkit({"slabtop", "--proc-root", root});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> got = lines_of(r.out);
  // The unit-free summary lines are slabtop's, character for character.
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(got.at(i), want.at(i));
  // The size lines in slabtop's K units, from the JSON's bytes.
  const json j = memkit_json({"slabtop", "--proc-root", root});
  const json& s = j["summary"];
  char line[256];
  std::snprintf(line, sizeof line,
                " Active / Total Size (%% used)       : %.2fK / %.2fK (%.1f%%)",
                s["active_size"].get<double>() / 1024, s["total_size"].get<double>() / 1024,
                100.0 * s["active_size"].get<double>() / s["total_size"].get<double>());
  EXPECT_EQ(want.at(3), line);
  std::snprintf(line, sizeof line, " Minimum / Average / Maximum Object : %.2fK / %.2fK / %.2fK",
                s["min_objsize"].get<double>() / 1024, s["avg_objsize"].get<double>() / 1024,
                s["max_objsize"].get<double>() / 1024);
  EXPECT_EQ(want.at(4), line);
  // Default sort: objects, descending; the same order of counts as slabtop's rows.
  std::vector<std::string> objs_want, objs_got;
  for (size_t i = 7; i < want.size(); ++i) objs_want.push_back(words(want[i]).at(0));
  for (const json& c : j["caches"]) objs_got.push_back(std::to_string(c["num_objs"].get<uint64_t>()));
  EXPECT_EQ(objs_got, objs_want);
  EXPECT_EQ(j["sort"], "objs");
}

TEST_F(ViewsB, SlabtopSortKeys) {
  const std::string root = kData + "/slabinfo";
  // -s c (cache size) as slabtop -o -s c printed it: the same sizes in the same order.
  const std::vector<std::string> want = lines_of(slurp(root + "/slabtop_o_sc.txt"));
  const json j = memkit_json({"slabtop", "-s", "c", "--proc-root", root});
  std::vector<std::string> sizes_want, sizes_got;
  for (size_t i = 7; i < want.size(); ++i) sizes_want.push_back(words(want[i]).at(6));
  for (const json& c : j["caches"])
    sizes_got.push_back(std::to_string(c["cache_size"].get<uint64_t>() / 1024) + "K");
  EXPECT_EQ(sizes_got, sizes_want);
  EXPECT_EQ(words(want.at(7)).at(7), j["caches"][0]["name"]);

  // Letters and words are the same key.
  for (const auto& [letter, word] : std::vector<std::pair<std::string, std::string>>{
           {"a", "active"}, {"c", "cache-size"}, {"n", "name"}, {"s", "objsize"}, {"u", "use"},
           {"l", "slabs"}, {"b", "objs-per-slab"}}) {
    EXPECT_EQ(memkit({"slabtop", "-s", letter, "--proc-root", root}).out,
              memkit({"slabtop", "--sort", word, "--proc-root", root}).out)
        << letter;
  }
  const json by_name = memkit_json({"slabtop", "-s", "n", "--proc-root", root});
  EXPECT_LT(by_name["caches"][0]["name"].get<std::string>(),
            by_name["caches"][1]["name"].get<std::string>());
  const Result bad = memkit({"slabtop", "-s", "x", "--proc-root", root});
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err.find("memkit: --sort: unknown key \"x\" (valid: a|active, "), 0u) << bad.err;
}

TEST_F(ViewsB, SlabinfoOnTheCapturedFile) {
  const json j = memkit_json({"slabinfo", "--proc-root", kData + "/slabinfo"});
  EXPECT_EQ(j["version"], "2.1");
  ASSERT_EQ(j["caches"].size(), 235u);
  EXPECT_EQ(j["caches"][0]["name"], "btrfs_delayed_node");
  const Result r = memkit({"slabinfo", "--proc-root", kData + "/slabinfo"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("235 caches, "), std::string::npos);
}

// ------------------------------------------------------------------------------ ps

class PsTree : public ViewsB {
 protected:
  // A snapshot of five processes: sleep and bss_demo as captured, bss_demo again without its
  // smaps_rollup (memkit sums smaps), a kernel thread, and one whose memory files are missing
  // (unreadable: skipped).
  void SetUp() override {
    ViewsB::SetUp();
    root_ = path("ps");
    fs::create_directories(root_ + "/proc");
    for (const char* name : {"sleep", "bss_demo"}) {
      for (const auto& e : fs::directory_iterator(kData + "/maps/" + name + "/proc"))
        fs::copy(e.path(), root_ + "/proc/" + e.path().filename().string(),
                 fs::copy_options::recursive);
    }
    for (const auto& e : fs::directory_iterator(kData + "/maps/bss_demo/proc"))
      fs::copy(e.path(), root_ + "/proc/777", fs::copy_options::recursive);
    fs::remove(root_ + "/proc/777/smaps_rollup");
    spit(root_ + "/proc/2/status", "Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t2\nKthread:\t1\n");
    spit(root_ + "/proc/2/cmdline", "");
    spit(root_ + "/proc/9/status",
         slurp(kData + "/maps/sleep/proc/24238/status"));  // no smaps, no rollup
  }
  std::string root_;
};

TEST_F(PsTree, RssPssUssSwapFromTheRollups) {
  const json j = memkit_json({"ps", "--proc-root", root_, "--sort", "rss"});
  ASSERT_EQ(j["processes"].size(), 3u) << j.dump();
  EXPECT_EQ(j["skipped_unreadable"], 1);
  EXPECT_EQ(j["skipped_kernel"], 1);
  // bss_demo (24187 and its smaps-summed copy 777) before sleep (24238), by RSS.
  const json& p = j["processes"];
  EXPECT_EQ(p[2]["pid"], 24238);
  EXPECT_EQ(p[2]["command"], "sleep 120");
  EXPECT_EQ(p[2]["rss"], 1752 * 1024);
  EXPECT_EQ(p[2]["uss"], (40 + 108) * 1024);  // Private_Clean + Private_Dirty
  EXPECT_EQ(p[2]["swap"], 0);
  // The rollup and the smaps sum of the same capture agree, but for PSS: the rollup sums the
  // exact shares, smaps rounds each VMA's down to a kB (25 VMAs: at most 25 kB less).
  EXPECT_EQ(p[0]["rss"], p[1]["rss"]);
  EXPECT_EQ(p[0]["uss"], p[1]["uss"]);
  EXPECT_LE(std::abs(p[0]["pss"].get<int64_t>() - p[1]["pss"].get<int64_t>()), 25 * 1024);
  EXPECT_EQ(p[0]["rss"], 1916 * 1024);

  const Result r = memkit({"ps", "--proc-root", root_});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("1 process skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 kernel thread and zombie left out"), std::string::npos) << r.out;
  EXPECT_EQ(memkit({"ps", "--proc-root", root_, "--sort", "vsz"}).status, 2);
}

TEST_F(PsTree, AskingForAProcessThatCannotBeShownIsAnError) {
  Result r = memkit({"ps", "--proc-root", root_, "-p", "2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "memkit: " + root_ + "/proc/2/status: PID 2 is a kernel thread: it has no user memory\n");
  r = memkit({"ps", "--proc-root", root_, "-p", "9"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.find("memkit: " + root_ + "/proc/9/smaps_rollup: "), 0u) << r.err;
  r = memkit({"ps", "--proc-root", root_, "-p", "24238", "--json"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(json::parse(r.out)["processes"].size(), 1u);
}

// ------------------------------------------------------------------------------ maps

TEST_F(ViewsB, MapsOnTheCapturedBssDemo) {
  const std::string root = kData + "/maps/bss_demo";
  const json j = memkit_json({"maps", "24187", "--proc-root", root});
  for (const char* key : {"VmSize", "VmData", "VmStk", "VmExe", "VmLib"})
    EXPECT_TRUE(j["status_check"][key]["match"].get<bool>()) << key << j["status_check"].dump();
  // pmap -x's total line of the same capture: Kbytes, RSS, Dirty.
  const std::vector<std::string> total = words(lines_of(slurp(root + "/pmap_x.txt")).back());
  EXPECT_EQ(std::to_string(j["total"]["size"].get<uint64_t>() / 1024), total.at(2));
  EXPECT_EQ(std::to_string(j["total"]["rss"].get<uint64_t>() / 1024), total.at(3));
  EXPECT_EQ(std::to_string(j["total"]["dirty"].get<uint64_t>() / 1024), total.at(4));
  EXPECT_EQ(j["regions"][5]["kind"], "BSS");
  EXPECT_EQ(j["regions"][5]["size"], 1024 * 1024);
  EXPECT_EQ(j["summary"]["BSS"]["regions"], 1);
  EXPECT_EQ(j["summary"]["DATA"]["regions"], 2);
  EXPECT_EQ(j["summary"]["TEXT"]["regions"], 3);
  EXPECT_EQ(j["command"], "./bss_demo");

  const Result r = memkit({"maps", "24187", "--proc-root", root, "--svg", path("as.svg")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("24187:   ./bss_demo\nADDRESS"), 0u) << r.out;
  EXPECT_NE(r.out.find("BSS"), std::string::npos);
  EXPECT_NE(r.out.find("\nVmData     1.4 MiB    1.4 MiB ok   writable, private, not stack"),
            std::string::npos)
      << r.out;
  const std::string svg = slurp(path("as.svg"));
  EXPECT_EQ(svg.find("<?xml"), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"bss\""), std::string::npos);
  EXPECT_NE(svg.find("[heap]"), std::string::npos);
  EXPECT_NE(svg.find("gap "), std::string::npos);
}

TEST_F(ViewsB, MapsErrors) {
  // A truncated smaps in a snapshot.
  const std::string root = path("cutmaps");
  fs::copy(kData + "/maps/sleep", root, fs::copy_options::recursive);
  const std::string smaps = root + "/proc/24238/smaps";
  const std::string text = slurp(smaps);
  spit(smaps, text.substr(0, text.size() / 2));
  Result r = memkit({"maps", "24238", "--proc-root", root});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find("memkit: " + smaps + ": line "), 0u) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u);

  r = memkit({"maps", "12x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");

  // Without PID: memkit's own address space, as `memkit status` does.
  r = memkit({"maps"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "memkit")) << r.out;
  EXPECT_TRUE(contains(r.out, "HEAP")) << r.out;

  // A process that has exited.
  pid_t gone = 0;
  char* argv[] = {const_cast<char*>("true"), nullptr};
  ASSERT_EQ(posix_spawnp(&gone, "true", nullptr, nullptr, argv, environ), 0);
  waitpid(gone, nullptr, 0);
  r = memkit({"maps", std::to_string(gone)});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "memkit: /proc/" + std::to_string(gone) +
                       "/status: no such process (it exited?)\n");
}

TEST_F(ViewsB, MapsOfAKernelThreadIsAnError) {
  std::string kthread;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (slurp(e.path().string() + "/status").find("Kthread:\t1") != std::string::npos) {
      kthread = name;
      break;
    }
  }
  if (kthread.empty()) GTEST_SKIP() << "no kernel thread visible (a PID namespace?)";
  for (const char* cmd : {"maps", "v2p"}) {
    std::vector<std::string> args = {cmd, kthread};
    if (std::string(cmd) == "v2p") args.push_back("0x1000");
    const Result r = memkit(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "memkit: /proc/" + kthread + "/status: PID " + kthread +
                         " is a kernel thread: it has no user memory\n");
  }
}

// ------------------------------------------------------------------------------ v2p

TEST_F(ViewsB, V2pOnAHandWrittenPagemap) {
  const std::string root = path("v2p");
  const std::string p = root + "/proc/4242/";
  spit(p + "maps",
       "00400000-00402000 r-xp 00000000 08:01 42                         /bin/demo\n"
       "00402000-00403000 rw-p 00002000 08:01 42                         /bin/demo\n"
       "00600000-00604000 rw-p 00000000 00:00 0                          [heap]\n");
  spit(p + "status",
       "Name:\tdemo\nState:\tS (sleeping)\nPid:\t4242\nVmSize:\t      28 kB\nVmRSS:\t       8 kB\n");
  std::string stat = "4242 (demo) S";
  for (int field = 4; field <= 52; ++field) {
    const uint64_t v = field == 26 ? 0x400000 : field == 27 ? 0x401800 : field == 45 ? 0x402000
                     : field == 46 ? 0x402100 : field == 47 ? 0x600000 : 0;
    stat += ' ';
    stat += std::to_string(v);
  }
  spit(p + "stat", stat + "\n");
  spit(p + "cmdline", std::string("demo\0--x\0", 10));
  std::string map(8 * 0x604, '\0');
  map.replace(8 * 0x400, 8, le64(0xa1000000000abcdeULL));  // present file page, exclusive
  map.replace(8 * 0x600, 8, le64(0x81000000001180dfULL));  // present anonymous, exclusive
  map.replace(8 * 0x601, 8, le64(0x8100000000000000ULL));  // the same, PFN hidden
  map.replace(8 * 0x602, 8, le64((uint64_t{1} << 62) | (uint64_t{0x99} << 5) | 1));  // swapped
  spit(p + "pagemap", map);

  const Result r = memkit({"v2p", "4242", "0x600010", "0x601000", "0x602abc", "0x603000", "0x10",
                           "4194305", "--proc-root", root});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> l = lines_of(r.out);
  ASSERT_EQ(l.size(), 12u) << r.out;
  EXPECT_EQ(l[0], "4242:   demo --x   (4096-byte pages, " + p + "pagemap)");
  EXPECT_EQ(l[1], "0x0000000000600010  in 600000-604000 rw-p [heap] [HEAP], page 0x600000");
  EXPECT_EQ(l[2], "  present, exclusive; PFN 0x1180df, physical address 0x1180df010");
  EXPECT_EQ(l[4], "  present, exclusive; PFN hidden by the kernel (needs CAP_SYS_ADMIN)");
  EXPECT_EQ(l[6], "  swapped out: swap type 1, offset 0x99");
  EXPECT_EQ(l[8], "  not present (never touched, or reclaimed)");
  EXPECT_EQ(l[9], "0x0000000000000010  not mapped: outside any mapping of PID 4242");
  EXPECT_EQ(l[10], "0x0000000000400001  in 400000-402000 r-xp /bin/demo [TEXT], page 0x400000");
  EXPECT_EQ(l[11], "  present, exclusive, file/shared; PFN 0xabcde, physical address 0xabcde001");

  const json j = memkit_json({"v2p", "4242", "0x600010", "0x601000", "0x10", "--proc-root", root});
  EXPECT_EQ(j["addresses"][0]["pfn"], 0x1180df);
  EXPECT_EQ(j["addresses"][0]["physical"], 0x1180df010);
  EXPECT_EQ(j["addresses"][0]["vma"]["kind"], "HEAP");
  EXPECT_TRUE(j["addresses"][1]["pfn_hidden"].get<bool>());
  EXPECT_TRUE(j["addresses"][1]["pfn"].is_null());
  EXPECT_FALSE(j["addresses"][2]["mapped"].get<bool>());

  EXPECT_EQ(memkit({"v2p", "4242", "0xzz", "--proc-root", root}).status, 2);
  fs::remove(p + "pagemap");
  const Result none = memkit({"v2p", "4242", "0x600010", "--proc-root", root});
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.err, "memkit: " + p +
                          "pagemap: not in the snapshot (`memkit snapshot` cannot copy pagemap)\n");
}

TEST_F(ViewsB, V2pLiveAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "PFNs are shown to root only";
  const pid_t pid = start_sleep();
  ASSERT_GT(pid, 0);
  const uint64_t top = stack_top(pid);
  ASSERT_NE(top, 0u);
  const json j = memkit_json({"v2p", std::to_string(pid), std::to_string(top)});
  const json& a = j["addresses"][0];
  EXPECT_EQ(a["vma"]["kind"], "STACK");
  EXPECT_TRUE(a["present"].get<bool>());
  EXPECT_FALSE(a["pfn_hidden"].get<bool>());
  EXPECT_GT(a["pfn"].get<uint64_t>(), 0u);
  EXPECT_EQ(a["physical"].get<uint64_t>() % 4096, top % 4096);
}

// ------------------------------------------------------------------------------ live, procps

// pmap -x's "total kB" line: Kbytes, RSS, Dirty.
std::vector<std::string> pmap_total(const Result& r) {
  const std::vector<std::string> l = lines_of(r.out);
  return l.empty() ? std::vector<std::string>{} : words(l.back());
}

TEST_F(ViewsB, LiveMapsAgreesWithPmapAndStatus) {
  if (std::string why; !ensure_program("pmap", "procps", &why)) GTEST_SKIP() << why;
  const pid_t pid = start_sleep();
  ASSERT_GT(pid, 0);
  const std::string p = std::to_string(pid);
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Result before = run({"pmap", "-x", p});
    const json j = memkit_json({"maps", p});
    const Result after = run({"pmap", "-x", p});
    if (pmap_total(before) != pmap_total(after)) continue;  // it changed meanwhile: again
    const std::vector<std::string> t = pmap_total(before);
    ASSERT_EQ(t.size(), 5u) << before.out;
    EXPECT_EQ(std::to_string(j["total"]["size"].get<uint64_t>() / 1024), t[2]);
    EXPECT_EQ(std::to_string(j["total"]["rss"].get<uint64_t>() / 1024), t[3]);
    EXPECT_EQ(std::to_string(j["total"]["dirty"].get<uint64_t>() / 1024), t[4]);
    for (const char* key : {"VmSize", "VmData", "VmStk", "VmExe", "VmLib"})
      EXPECT_TRUE(j["status_check"][key]["match"].get<bool>()) << key << j["status_check"].dump();
    EXPECT_EQ(j["summary"]["STACK"]["regions"], 1);
    EXPECT_EQ(j["summary"]["HEAP"]["regions"], 1);
    EXPECT_EQ(j["summary"]["TEXT"]["regions"].get<int>() >= 1, true);
    return;
  }
  FAIL() << "pmap -x never read the same totals twice in a row";
}

TEST_F(ViewsB, LivePsAgreesWithProcps) {
  if (std::string why; !ensure_program("ps", "procps", &why)) GTEST_SKIP() << why;
  const pid_t pid = start_sleep();
  ASSERT_GT(pid, 0);
  const std::string p = std::to_string(pid);
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Result before = run({"ps", "-o", "rss=", "-p", p});
    const json j = memkit_json({"ps", "-p", p});
    const Result after = run({"ps", "-o", "rss=", "-p", p});
    if (before.out != after.out) continue;
    ASSERT_EQ(j["processes"].size(), 1u);
    EXPECT_EQ(std::to_string(j["processes"][0]["rss"].get<uint64_t>() / 1024),
              words(before.out).at(0));
    EXPECT_EQ(j["processes"][0]["command"], "sleep 30");
    EXPECT_LE(j["processes"][0]["uss"].get<uint64_t>(), j["processes"][0]["pss"].get<uint64_t>());
    EXPECT_LE(j["processes"][0]["pss"].get<uint64_t>(), j["processes"][0]["rss"].get<uint64_t>());
    return;
  }
  FAIL() << "ps -o rss never read the same value twice in a row";
}

// smem's USS and RSS (its PSS moves: smem is a Python process that maps the same libraries,
// reference §4.8, so memkit's PSS taken before smem runs can only be larger or equal).
TEST_F(ViewsB, LivePsAgreesWithSmem) {
  if (std::string why; !ensure_program("smem", "smem", &why)) GTEST_SKIP() << why;
  const pid_t pid = start_sleep();
  ASSERT_GT(pid, 0);
  const std::string p = std::to_string(pid);
  // USS is not a property of the process alone: a file page is private only while no other
  // process maps it, and the reader maps libc and ld.so pages too (smem, in python, touches many
  // more of them than memkit does). So RSS must agree exactly and USS within 128 KiB; compare
  // only when memkit read the same figures before and after smem, and try again when a process
  // came or went between the reads.
  std::string last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    const json before = memkit_json({"ps", "-p", p});
    const Result smem = run({"smem", "-H", "-c", "pid uss pss rss", "-P", "^sleep 30$"});
    const json after = memkit_json({"ps", "-p", p});
    ASSERT_EQ(smem.status, 0) << smem.err;
    const json& b = before["processes"][0];
    if (b["uss"] != after["processes"][0]["uss"] || b["rss"] != after["processes"][0]["rss"])
      continue;
    bool found = false;
    for (const std::string& line : lines_of(smem.out)) {
      const std::vector<std::string> w = words(line);
      if (w.size() != 4 || w[0] != p) continue;
      found = true;
      const uint64_t uss_kb = b["uss"].get<uint64_t>() / 1024;
      const uint64_t rss_kb = b["rss"].get<uint64_t>() / 1024;
      const uint64_t smem_uss = std::stoull(w[1]);
      const uint64_t gap = uss_kb > smem_uss ? uss_kb - smem_uss : smem_uss - uss_kb;
      if (std::to_string(rss_kb) != w[3] || gap > 128) {
        last = "memkit: uss " + std::to_string(uss_kb) + " rss " + std::to_string(rss_kb) +
               "; smem: " + line;
        break;
      }
      EXPECT_GT(uss_kb, 0u);
      EXPECT_LE(uss_kb, b["pss"].get<uint64_t>() / 1024);  // USS <= PSS <= RSS
      EXPECT_LE(b["pss"].get<uint64_t>(), b["rss"].get<uint64_t>());
      return;
    }
    ASSERT_TRUE(found) << "PID " << p << " not in smem's output:\n" << smem.out;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "memkit ps and smem never agreed on a quiet read; last: " << last;
}

TEST_F(ViewsB, LiveSlabtopAgreesWithProcps) {
  if (geteuid() != 0) GTEST_SKIP() << "/proc/slabinfo needs root";
  if (std::string why; !ensure_program("slabtop", "procps", &why)) GTEST_SKIP() << why;
  if (access("/proc/slabinfo", R_OK) != 0) GTEST_SKIP() << "no /proc/slabinfo";
  // One copy of the live file, read by both: slabtop through a bind mount over /proc/slabinfo
  // in a private mount namespace.
  spit(path("snap/slabinfo"), slurp("/proc/slabinfo"));
  const Result exact = run({"unshare", "-m", "sh", "-c",
                            "mount --bind \"$0\" /proc/slabinfo && exec slabtop -o",
                            path("snap/slabinfo")});
  const Result mine = memkit({"slabtop", "--proc-root", path("snap")});
  ASSERT_EQ(mine.status, 0) << mine.err;
  if (exact.status == 0) {
    const std::vector<std::string> want = lines_of(exact.out);
    const std::vector<std::string> got = lines_of(mine.out);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(got.at(i), want.at(i));
    return;
  }
  // No mount namespace here: bracket memkit's live read between two of slabtop's. The cache
  // count is stable; object and slab counts move with the machine's load.
  const Result before = run({"slabtop", "-o"});
  const json j = memkit_json({"slabtop"});
  const Result after = run({"slabtop", "-o"});
  ASSERT_EQ(before.status, 0) << before.err;
  const std::vector<std::string> b = words(lines_of(before.out).at(2));
  const std::vector<std::string> a = words(lines_of(after.out).at(2));
  if (b != a) GTEST_SKIP() << "the set of slab caches changed while reading";
  EXPECT_EQ(std::to_string(j["summary"]["total_caches"].get<uint64_t>()), b.at(9));
  const double objs = j["summary"]["total_objs"].get<double>();
  const double want = std::stod(words(lines_of(before.out).at(0)).at(9));
  EXPECT_NEAR(objs, want, want * 0.05);
}

// ------------------------------------------------------------------------------ as nobody

// As root, these run memkit (and the sleep whose PFNs it reads) as nobody through setpriv; as
// another user, directly. Not run when running as root without setpriv, or when nobody cannot
// reach the built binary.
class Unprivileged : public ViewsB {
 protected:
  void SetUp() override {
    ViewsB::SetUp();
    root_ = geteuid() == 0;
    if (root_ && !(have("setpriv") && memkit({"version"}, true).status == 0))
      GTEST_SKIP() << "as root, needs setpriv (util-linux) and a memkit binary nobody can run";
  }
  Result unprivileged(const std::vector<std::string>& args) const { return memkit(args, root_); }
  bool root_ = false;
};

TEST_F(Unprivileged, PermissionErrors) {
  if (access("/proc/slabinfo", F_OK) == 0) {
    for (const char* cmd : {"slabinfo", "slabtop"}) {
      const Result r = unprivileged({cmd});
      EXPECT_EQ(r.status, 1) << cmd;
      EXPECT_EQ(r.out, "") << cmd;
      EXPECT_EQ(r.err, "memkit: /proc/slabinfo: permission denied (needs root)\n") << cmd;
    }
  }
  Result r = unprivileged({"buddyinfo", "--pagetype"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "memkit: /proc/pagetypeinfo: permission denied (needs root)\n");
  EXPECT_EQ(unprivileged({"buddyinfo"}).status, 0);

  // Another user's process: PID 1, and (as root) root's own sleep.
  r = unprivileged({"maps", "1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find("memkit: /proc/1/"), 0u) << r.err;
  EXPECT_NE(r.err.find("permission denied (needs root)"), std::string::npos) << r.err;
  if (root_) {
    const pid_t pid = start_sleep();
    ASSERT_GT(pid, 0);
    const std::string p = std::to_string(pid);
    r = unprivileged({"maps", p});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "memkit: /proc/" + p + "/smaps: permission denied (needs root)\n");
    r = unprivileged({"v2p", p, "0x1000"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "memkit: /proc/" + p + "/maps: permission denied (needs root)\n");
  }

  // ps skips what it cannot read, and says how many.
  r = unprivileged({"ps", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(json::parse(r.out)["skipped_unreadable"].get<int>(), 0);
}

TEST_F(Unprivileged, PfnsAreHidden) {
  const pid_t pid = start_sleep(/*as_nobody=*/root_);
  ASSERT_GT(pid, 0);
  const std::string p = std::to_string(pid);
  const uint64_t top = stack_top(pid);
  ASSERT_NE(top, 0u);
  const Result r = unprivileged({"v2p", p, std::to_string(top)});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("present, exclusive; PFN hidden by the kernel (needs CAP_SYS_ADMIN)"),
            std::string::npos)
      << r.out;
  // Its own processes, an unprivileged user lists with ps.
  const Result ps = unprivileged({"ps", "-p", p, "--json"});
  ASSERT_EQ(ps.status, 0) << ps.err;
  EXPECT_GT(json::parse(ps.out)["processes"][0]["rss"].get<uint64_t>(), 0u);
}

}  // namespace
