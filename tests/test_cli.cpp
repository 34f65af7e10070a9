// memkit — tests of the `memkit` command line (tests/test_cli.cpp)
//
// Runs the built binary (MEMKIT_CLI_PATH) as a user would and checks its output, exit status
// and files: --help, version, options, and `buddy simulate` with random workloads, hand-made
// traces whose buddy state and fragmentation indices are computed here by hand, trace errors,
// JSON and SVG output.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "options/options.h"
#include "test_support.h"

#ifndef MEMKIT_CLI_PATH
#error "test_cli needs MEMKIT_CLI_PATH, the path of the built memkit binary"
#endif

namespace {

using namespace memkit::testing;

class CliTest : public ScratchDirTest {
 protected:
  // Runs memkit with `args`, stdin from `input`.
  Result memkit(std::vector<std::string> args, const std::string& input = "") const {
    args.insert(args.begin(), MEMKIT_CLI_PATH);
    return run(args, input);
  }

  // `memkit buddy simulate --json` with `args` (and the trace text, if any, on stdin).
  nlohmann::json simulate_json(std::vector<std::string> args, const std::string& trace = "") const {
    args.insert(args.begin(), {"buddy", "simulate", "--json"});
    if (!trace.empty()) {
      args.push_back("--trace");
      args.push_back("-");
    }
    const Result r = memkit(args, trace);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return nlohmann::json::parse(r.out);
  }

  // Expects `memkit buddy simulate --trace FILE` on `trace` to fail with status 2, stderr
  // naming the file and `line`, and nothing on stdout. Returns stderr.
  std::string expect_trace_error(const std::string& trace, int line,
                                 std::vector<std::string> extra = {}) const {
    const std::string file = write("trace.txt", trace);
    std::vector<std::string> args = {"buddy",       "simulate", "--pages", "16",
                                     "--max-order", "4",        "--trace", file};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = memkit(args);
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("memkit: " + file + ":" + std::to_string(line) + ": "), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected: " << r.err;
    return r.err;
  }
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST_F(CliTest, HelpListsSubcommands) {
  const Result r = memkit({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* name : {"buddy", "options", "version"})
    EXPECT_TRUE(contains(r.out, name)) << name;
}

TEST_F(CliTest, Version) {
  const Result a = memkit({"version"});
  EXPECT_EQ(a.status, 0);
  EXPECT_TRUE(starts_with(a.out, "memkit 0.")) << a.out;
  const Result b = memkit({"--version"});
  EXPECT_EQ(b.status, 0);
  EXPECT_EQ(a.out, b.out);
}

TEST_F(CliTest, OptionsListsEveryKey) {
  const Result r = memkit({"options"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "MEMKIT_OPTIONS=key=value:key=value"));
  EXPECT_TRUE(contains(r.out, "decay_ms"));
  EXPECT_TRUE(contains(r.out, "1000"));
  // Each key's line shows its default and the values it takes (its range), from the table.
  size_t count = 0;
  const memkit::OptionInfo* table = memkit::option_table(&count);
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(table[i].name);
    const size_t at = r.out.find("\n" + std::string(table[i].name) + " ");
    ASSERT_NE(at, std::string::npos);
    const std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    char values[160];
    memkit::option_values_text(table[i], values, sizeof values);
    EXPECT_TRUE(contains(line, std::string("  ") + values + "  ")) << line;
    EXPECT_TRUE(contains(line, table[i].help)) << line;
  }
  EXPECT_TRUE(contains(r.out, "-1..86400000"));
  EXPECT_TRUE(contains(r.out, "1..16, a power of two"));
}

// --json: the same table as one array, each key with its default, values and help.
TEST_F(CliTest, OptionsJson) {
  const Result r = memkit({"options", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  size_t count = 0;
  const memkit::OptionInfo* table = memkit::option_table(&count);
  ASSERT_EQ(doc.size(), count);
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(table[i].name);
    EXPECT_EQ(doc[i]["key"], table[i].name);
    EXPECT_EQ(doc[i]["type"], table[i].type);
    EXPECT_EQ(doc[i]["default"], table[i].default_text);
    EXPECT_EQ(doc[i]["help"], table[i].help);
    char values[160];
    memkit::option_values_text(table[i], values, sizeof values);
    EXPECT_EQ(doc[i]["values"], values);
    if (table[i].check == memkit::OptionCheck::kRange) {
      EXPECT_EQ(doc[i]["min"], table[i].min);
      EXPECT_EQ(doc[i]["max"], table[i].max);
    }
  }
}

TEST_F(CliTest, UnknownSubcommandIsAUsageError) {
  EXPECT_EQ(memkit({"no-such-command"}).status, 2);
  EXPECT_EQ(memkit({"buddy", "simulate", "--no-such-flag"}).status, 2);
}

// `memkit` alone prints the list of subcommands, on stdout, like --help.
TEST_F(CliTest, NoArgumentsListsSubcommands) {
  const Result r = memkit({});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  for (const char* name : {"run", "check", "free", "maps", "options"})
    EXPECT_TRUE(contains(r.out, name)) << name << " in " << r.out;
  EXPECT_EQ(r.out, memkit({"--help"}).out);
}

// An unknown subcommand says so and names the nearest ones (a typo, a prefix), on one line.
TEST_F(CliTest, UnknownSubcommandSuggestsTheNearest) {
  const Result fre = memkit({"fre"});
  EXPECT_EQ(fre.status, 2);
  EXPECT_EQ(fre.out, "");
  EXPECT_TRUE(contains(fre.err, "'fre' is not a memkit subcommand; did you mean free")) << fre.err;
  EXPECT_EQ(fre.err.find('\n'), fre.err.size() - 1) << fre.err;
  EXPECT_TRUE(contains(memkit({"mpas"}).err, "did you mean maps")) << memkit({"mpas"}).err;
  EXPECT_TRUE(contains(memkit({"slab"}).err, "slabinfo")) << memkit({"slab"}).err;
  const Result far = memkit({"zzzzzzzz"});
  EXPECT_EQ(far.status, 2);
  EXPECT_FALSE(contains(far.err, "did you mean")) << far.err;
  EXPECT_TRUE(contains(far.err, "zzzzzzzz")) << far.err;
}

// `memkit check PROGRAM ARGS` without "--": the options after PROGRAM are PROGRAM's, and check's
// own before it are check's (--log FILE takes the next word).
TEST_F(CliTest, CheckTakesProgramWithoutSeparator) {
  const std::string log = path("check.log");
  const Result r = memkit({"check", "--log", log, "/bin/sh", "-c", "echo \"$0 $1\"; exit 5", "--full", "--log"});
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_EQ(r.out, "--full --log\n");
  EXPECT_EQ(r.err, "");
  const Result dashes = memkit({"check", "--", "/bin/sh", "-c", "exit 6"});
  EXPECT_EQ(dashes.status, 6) << dashes.err;
  const Result none = memkit({"check", "--full"});
  EXPECT_EQ(none.status, 2);
}

TEST_F(CliTest, SimulateDefaultPrintsBuddyinfo) {
  const Result r = memkit({"buddy", "simulate"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  bool buddyinfo = false;
  bool summary = false;
  while (std::getline(lines, line)) {
    buddyinfo |= starts_with(line, "Node 0, zone   memkit ");
    summary |= starts_with(line, "4096 pages, ");
  }
  EXPECT_TRUE(buddyinfo) << r.out;
  EXPECT_TRUE(summary) << r.out;
}

TEST_F(CliTest, SimulateIsDeterministic) {
  const std::vector<std::string> args = {"buddy", "simulate", "--ops", "20000", "--seed", "7"};
  const Result a = memkit(args);
  const Result b = memkit(args);
  ASSERT_EQ(a.status, 0);
  EXPECT_EQ(a.out, b.out);
  const Result c = memkit({"buddy", "simulate", "--ops", "20000", "--seed", "8"});
  ASSERT_EQ(c.status, 0);
  EXPECT_NE(a.out, c.out);
}

TEST_F(CliTest, SimulateJsonIsConsistent) {
  const nlohmann::json j = simulate_json({"--pages", "1000", "--max-order", "8", "--ops", "5000"});
  for (const char* key : {"pages", "max_order", "ops", "free_pages", "free_blocks",
                          "unusable_index", "extfrag_index", "failed_allocs"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["pages"], 1000);
  EXPECT_EQ(j["max_order"], 8);
  EXPECT_EQ(j["ops"], 5000);
  ASSERT_EQ(j["free_blocks"].size(), 9u);
  ASSERT_EQ(j["unusable_index"].size(), 9u);
  ASSERT_EQ(j["extfrag_index"].size(), 9u);
  uint64_t free_pages = 0;
  for (size_t k = 0; k < 9; ++k) free_pages += j["free_blocks"][k].get<uint64_t>() << k;
  EXPECT_EQ(j["free_pages"].get<uint64_t>(), free_pages);
  EXPECT_EQ(
      j["allocs"].get<uint64_t>() + j["failed_allocs"].get<uint64_t>() + j["frees"].get<uint64_t>(),
      5000u);
}

TEST_F(CliTest, SimulateEverySnapshots) {
  const nlohmann::json j = simulate_json({"--ops", "1000", "--every", "300"});
  ASSERT_TRUE(j.contains("snapshots"));
  ASSERT_EQ(j["snapshots"].size(), 3u);
  EXPECT_EQ(j["snapshots"][0]["ops"], 300);
  EXPECT_EQ(j["snapshots"][2]["ops"], 900);
  EXPECT_EQ(j["snapshots"][1]["free_blocks"].size(), 11u);

  const Result r = memkit({"buddy", "simulate", "--ops", "1000", "--every", "300"});
  ASSERT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "after 300 ops:"));
  EXPECT_TRUE(contains(r.out, "after 1000 ops (end):"));
}

TEST_F(CliTest, TraceOneAllocationSplitsTheRange) {
  // 16 pages, max order 4: one free order-4 block; an order-0 allocation splits it into
  // free blocks of orders 0, 1, 2 and 3.
  const nlohmann::json a = simulate_json({"--pages", "16", "--max-order", "4"}, "a x 0\n");
  EXPECT_EQ(a["free_blocks"], nlohmann::json({1, 1, 1, 1, 0}));
  EXPECT_EQ(a["free_pages"], 15);
  EXPECT_EQ(a["ops"], 1);

  const nlohmann::json b = simulate_json({"--pages", "16", "--max-order", "4"},
                                         "# whole-line comment\n\na x 0   # trailing\n  f   x\n");
  EXPECT_EQ(b["free_blocks"], nlohmann::json({0, 0, 0, 0, 1}));
  EXPECT_EQ(b["free_pages"], 16);
  EXPECT_EQ(b["ops"], 2);
}

TEST_F(CliTest, TraceFragmentationIndicesMatchTheKernelFormulas) {
  // a x 2 takes pages 0-3 (leaving free 4-7 and 8-15); a y 3 takes 8-15. Only the order-2
  // block at page 4 is free: n = [0,0,1,0,0], F = 4, B = 1.
  //   unusable(j) = (F - S(j) << j) * 1000 / F: 0 for j <= 2 (S << j = 4), 1000 for j = 3, 4.
  //   extfrag(j) = -1000 while S(j) > 0 (j <= 2), else 1000 - (1000 + F * 1000 / 2^j) / B:
  //   j = 3: 1000 - 1500 = -500; j = 4: 1000 - 1250 = -250.
  const nlohmann::json j = simulate_json({"--pages", "16", "--max-order", "4"}, "a x 2\na y 3\n");
  EXPECT_EQ(j["free_blocks"], nlohmann::json({0, 0, 1, 0, 0}));
  EXPECT_EQ(j["free_pages"], 4);
  EXPECT_EQ(j["unusable_index"], nlohmann::json({0, 0, 0, 1000, 1000}));
  EXPECT_EQ(j["extfrag_index"], nlohmann::json({-1000, -1000, -1000, -500, -250}));
  EXPECT_EQ(j["largest_free_order"], 2);

  // The text output prints them as the kernel does: "%d.%03d" and "%2d.%03d".
  const std::string trace = write("t.txt", "a x 2\na y 3\n");
  const Result r =
      memkit({"buddy", "simulate", "--pages", "16", "--max-order", "4", "--trace", trace});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Node 0, zone   memkit      0      0      1      0      0 \n"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "1.000   0.-250\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "0.000   -1.000\n")) << r.out;
}

TEST_F(CliTest, TraceFailedAllocationIsCountedAndItsFreeSkipped) {
  const nlohmann::json j =
      simulate_json({"--pages", "16", "--max-order", "4"}, "a big 4\na x 0\nf x\nf big\na x 1\n");
  EXPECT_EQ(j["failed_allocs"], 1);
  EXPECT_EQ(j["skipped_frees"], 1);
  EXPECT_EQ(j["frees"], 1);
  EXPECT_EQ(j["allocs"], 2);
  EXPECT_EQ(j["ops"], 5);
  EXPECT_EQ(j["free_blocks"], nlohmann::json({0, 1, 1, 1, 0}));
}

TEST_F(CliTest, TraceErrorsNameTheLine) {
  EXPECT_TRUE(contains(expect_trace_error("a x 0\nz x\n", 2), "unknown op 'z'"));
  expect_trace_error("a x\n", 1);
  expect_trace_error("a x 0 1\n", 1);
  expect_trace_error("# ok\na x -1\n", 2);
  expect_trace_error("a x one\n", 1);
  expect_trace_error("f\n", 1);
  EXPECT_TRUE(contains(expect_trace_error("a x 0\n\nf y\n", 3), "f of unknown id 'y'"));
  EXPECT_TRUE(contains(expect_trace_error("a x 0\nf x\nf x\n", 3), "second f of id 'x'"));
  EXPECT_TRUE(contains(expect_trace_error("a x 0\na x 1\n", 2), "live id 'x'"));
  EXPECT_TRUE(contains(expect_trace_error("a x 5\n", 1), "above max-order 4"));
  // An error after --every points is still reported before any output.
  expect_trace_error("a x 0\nf x\na y 0\nf q\n", 4, {"--every", "1"});
}

TEST_F(CliTest, MissingTraceFileIsAUsageError) {
  const Result r = memkit({"buddy", "simulate", "--trace", path("no-such-file")});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "no-such-file"));
}

TEST_F(CliTest, SvgPicture) {
  const std::string svg = path("buddy.svg");
  const Result r = memkit({"buddy", "simulate", "--ops", "3000", "--svg", svg});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = slurp(svg);
  EXPECT_TRUE(starts_with(text, "<svg") || starts_with(text, "<?xml")) << text.substr(0, 80);
  EXPECT_TRUE(contains(text, "<rect"));
  EXPECT_TRUE(contains(text, "</svg>"));

  // A huge range: the picture stays small (narrow blocks are merged).
  const std::string big = path("big.svg");
  const Result b =
      memkit({"buddy", "simulate", "--pages", "4194304", "--ops", "200000", "--svg", big});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_LT(slurp(big).size(), 4u << 20);
}

TEST_F(CliTest, BadArgumentsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"buddy", "simulate", "--pages", "0"},
           {"buddy", "simulate", "--pages", "-5"},
           {"buddy", "simulate", "--max-order", "25"},
           {"buddy", "simulate", "--ops", "-1"},
           {"buddy", "simulate", "--every", "0"},
           {"buddy", "simulate", "--pages", "many"},
           {"buddy"},
       }) {
    const Result r = memkit(args);
    EXPECT_EQ(r.status, 2) << args.back();
    EXPECT_EQ(r.out, "") << args.back();
    EXPECT_NE(r.err, "") << args.back();
  }
}

// A trace line has a length limit: an input without newlines fails at once, naming the limit,
// instead of being read into memory (`--trace /dev/zero` grew without end). The address space
// is capped so that a regression fails (out of memory) rather than exhausting the machine.
TEST_F(CliTest, TraceLinesHaveALengthLimit) {
  const Result zero = run({"bash", "-c", "ulimit -v 1048576; exec \"$0\" buddy simulate --trace /dev/zero",
                           MEMKIT_CLI_PATH});
  EXPECT_EQ(zero.status, 2) << zero.err;
  EXPECT_TRUE(contains(zero.err, "memkit: /dev/zero:1: line longer than 4096 bytes")) << zero.err;
  // 4096 bytes are a line; 4097 are not, whatever ends them.
  const std::string longest = "a x 0 #" + std::string(4096 - 7, '.');
  const nlohmann::json j = simulate_json({"--pages", "16", "--max-order", "4"}, longest + "\nf x\n");
  EXPECT_EQ(j["ops"], 2);
  EXPECT_TRUE(contains(expect_trace_error("# ok\n" + longest + ".\nf x\n", 2), "4096 bytes"));
  EXPECT_TRUE(contains(expect_trace_error("a x 0\n" + longest + "..", 2), "4096 bytes"));
  EXPECT_TRUE(contains(expect_trace_error(std::string(1 << 20, 'a'), 1), "4096 bytes"));
}

// Every integer option of every subcommand: a value that overflows its type is an error echoing
// what was typed (CLI11 alone clamped it: --ops 99999999999999999999 ran 9.2e18 operations), as
// are a negative value for an unsigned option and a number that is not decimal.
TEST_F(CliTest, IntegerOptionsRejectWhatDoesNotFit) {
  const std::string huge = "99999999999999999999";
  struct Case {
    std::vector<std::string> args;
    std::string echoed;
  };
  const std::vector<Case> cases = {
      {{"buddy", "simulate", "--ops", huge}, huge},
      {{"buddy", "simulate", "--pages", huge}, huge},
      {{"buddy", "simulate", "--pages", "-" + huge}, "-" + huge},
      {{"buddy", "simulate", "--max-order", "99999999999"}, "99999999999"},
      {{"buddy", "simulate", "--every", huge}, huge},
      {{"buddy", "simulate", "--seed", huge + "0"}, huge + "0"},
      {{"buddy", "simulate", "--seed", "-1"}, "-1"},
      {{"buddy", "simulate", "--pages", "0x10"}, "0x10"},
      {{"buddy", "simulate", "--ops", "1e3"}, "1e3"},
      {{"buddy", "simulate", "--ops", " 5"}, " 5"},
      {{"bench", "--list", "--runs", huge}, huge},
      {{"bench", "--list", "--threads", "4294967297"}, "4294967297"},
      {{"bench", "--list", "--scale", "1e999"}, "1e999"},
      {{"bench", "--list", "--scale", "inf"}, "inf"},
      {{"vmstat", "0", huge}, huge},  // (an interval of 0 is an error too, found later)
      {{"vmstat", "nan"}, "nan"},
      {{"drop-caches", "4294967297"}, "4294967297"},
      {{"ps", "-p", huge}, huge},
  };
  for (const Case& c : cases) {
    const Result r = memkit(c.args);
    const std::string what = c.args[c.args.size() - 2] + " " + c.args.back();
    EXPECT_EQ(r.status, 2) << what << ": " << r.err;
    EXPECT_EQ(r.out, "") << what;
    EXPECT_TRUE(contains(r.err, c.echoed)) << what << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ": " << r.err;
  }
  // Decimal, whatever the leading zeros (CLI11 alone read 010 as octal 8).
  EXPECT_EQ(simulate_json({"--pages", "010", "--ops", "0"})["pages"], 10);
  EXPECT_EQ(simulate_json({"--pages", "16", "--ops", "0", "--seed", "18446744073709551615"})["seed"],
            18446744073709551615ull);
}

// Input echoed in a message reaches the terminal escaped: a trace line, a path or an argument
// holding ESC or a newline is shown as \x1b and \n, on one line; UTF-8 text is kept.
TEST_F(CliTest, MessagesEscapeTheInputTheyEcho) {
  auto expect_one_clean_line = [](const Result& r, const std::string& shown) {
    EXPECT_NE(r.status, 0);
    EXPECT_TRUE(contains(r.err, shown)) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  };
  expect_one_clean_line(memkit({"buddy", "simulate", "--trace", "-"}, "a x 0\n\x1b[2Jzz\n"),
                        "<stdin>:2: unknown op '\\x1b[2Jzz'");
  expect_one_clean_line(memkit({"buddy", "simulate", "--trace", "-"}, "a x\x1b\x07 0\nf x\x1b\x07\nf x\x1b\x07\n"),
                        "<stdin>:3: second f of id 'x\\x1b\\x07'");
  expect_one_clean_line(memkit({"buddy", "simulate", "--trace", "no\nsuch\x1b[1m"}),
                        "cannot open no\\nsuch\\x1b[1m");
  expect_one_clean_line(memkit({"bench", "--workloads", "w\x1b[31m\r"}),
                        "unknown workload 'w\\x1b[31m\\r'");
  expect_one_clean_line(memkit({"buddy", "simulate", "--no\x1b" "such"}), "--no\\x1bsuch");
  expect_one_clean_line(memkit({"status", "1\n2"}), "\"1\\n2\"");
  expect_one_clean_line(memkit({"buddy", "simulate", "--trace", "/nonexistent/d\xc3\xa9j\xc3\xa0\xc2\x9b"}),
                        "/nonexistent/d\xc3\xa9j\xc3\xa0\\xc2\\x9b");  // C1 CSI escaped, é à kept
}

TEST_F(CliTest, ZeroOpsAndOrderZero) {
  const nlohmann::json j = simulate_json({"--pages", "5", "--max-order", "0", "--ops", "0"});
  EXPECT_EQ(j["free_blocks"], nlohmann::json({5}));
  EXPECT_EQ(j["ops"], 0);
  const nlohmann::json k = simulate_json({"--pages", "12", "--max-order", "3", "--ops", "0"});
  EXPECT_EQ(k["free_blocks"], nlohmann::json({0, 0, 1, 1}));  // 12 = 8 + 4
}

}  // namespace
