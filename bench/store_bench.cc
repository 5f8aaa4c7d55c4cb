// The VM record store side by side with SQLite in WAL mode, the way Go
// daemons of this kind keep VM rows (spec as columns, runtime and handles as
// JSON text columns). Both hold the same 10,000 realistic records; every read
// decodes a complete VmRecord on both sides. (A VM's figures are kept apart
// from its record, in the store's stats table: stats_bench measures them.)
//
//   build/bench/store_bench [--benchmark_min_time=1] [--dir=/var/tmp]
//
// After Google Benchmark's own table it prints the comparison with ratios
// and the targets from the store issue.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/bench_report.h"
#include "bench/realistic_record.h"
#include "core/store/vm_store.h"

namespace banger::core {
namespace {

constexpr int kRecords = 10000;
constexpr int kBatch = 1000;
std::string g_dir = "/var/tmp";

// ---- SQLite in WAL mode ----

using nlohmann::json;

class SqliteStore {
 public:
  explicit SqliteStore(const std::string& path) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    sqlite3_open(path.c_str(), &db_);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec(
        "CREATE TABLE vms (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, state TEXT NOT NULL,"
        " created_at INTEGER, updated_at INTEGER, last_touched_at INTEGER, last_error TEXT,"
        " kernel_image TEXT, rootfs TEXT, boot_args TEXT, vcpus INTEGER, memory_mib INTEGER,"
        " work_disk_bytes INTEGER, runtime_json TEXT, handles_json TEXT)");
    sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO vms VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1,
                       &upsert_, nullptr);
    sqlite3_prepare_v2(db_, "SELECT * FROM vms WHERE name = ?", -1, &by_name_, nullptr);
    sqlite3_prepare_v2(db_, "SELECT * FROM vms", -1, &all_, nullptr);
  }
  ~SqliteStore() {
    sqlite3_finalize(upsert_);
    sqlite3_finalize(by_name_);
    sqlite3_finalize(all_);
    sqlite3_close(db_);
  }
  void Exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

  void Upsert(const VmRecord& r) {
    json runtime{
        {"vmm_state", r.runtime.vmm_state},           {"pid", r.runtime.pid},
        {"pid_start_time", r.runtime.pid_start_time}, {"api_socket", r.runtime.api_socket},
        {"vsock_path", r.runtime.vsock_path},         {"vsock_cid", r.runtime.vsock_cid},
        {"metrics_path", r.runtime.metrics_path},     {"log_path", r.runtime.log_path},
        {"overlay_path", r.runtime.overlay_path},     {"work_disk_path", r.runtime.work_disk_path}};
    std::string rt = runtime.dump(), hd = json(r.handles).dump();
    std::string state(VmStateName(r.state));
    sqlite3_reset(upsert_);
    sqlite3_bind_text(upsert_, 1, r.id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 2, r.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 3, state.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_, 4, r.created_at_ms);
    sqlite3_bind_int64(upsert_, 5, r.updated_at_ms);
    sqlite3_bind_int64(upsert_, 6, r.last_touched_at_ms);
    sqlite3_bind_text(upsert_, 7, r.last_error.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 8, r.spec.kernel_image.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 9, r.spec.rootfs.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 10, r.spec.boot_args.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_, 11, r.spec.vcpus);
    sqlite3_bind_int64(upsert_, 12, static_cast<int64_t>(r.spec.memory_mib));
    sqlite3_bind_int64(upsert_, 13, static_cast<int64_t>(r.spec.work_disk_bytes));
    sqlite3_bind_text(upsert_, 14, rt.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_, 15, hd.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(upsert_) != SQLITE_DONE) std::abort();
  }

  static std::string Text(sqlite3_stmt* s, int col) {
    auto p = sqlite3_column_text(s, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

  static VmRecord Row(sqlite3_stmt* s) {
    VmRecord r;
    r.id = Text(s, 0);
    r.name = Text(s, 1);
    r.state = *ParseVmState(Text(s, 2));
    r.created_at_ms = sqlite3_column_int64(s, 3);
    r.updated_at_ms = sqlite3_column_int64(s, 4);
    r.last_touched_at_ms = sqlite3_column_int64(s, 5);
    r.last_error = Text(s, 6);
    r.spec.kernel_image = Text(s, 7);
    r.spec.rootfs = Text(s, 8);
    r.spec.boot_args = Text(s, 9);
    r.spec.vcpus = static_cast<uint32_t>(sqlite3_column_int64(s, 10));
    r.spec.memory_mib = static_cast<uint64_t>(sqlite3_column_int64(s, 11));
    r.spec.work_disk_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 12));
    json rt = json::parse(reinterpret_cast<const char*>(sqlite3_column_text(s, 13)));
    r.runtime.vmm_state = rt["vmm_state"];
    r.runtime.pid = rt["pid"];
    r.runtime.pid_start_time = rt["pid_start_time"];
    r.runtime.api_socket = rt["api_socket"];
    r.runtime.vsock_path = rt["vsock_path"];
    r.runtime.vsock_cid = rt["vsock_cid"];
    r.runtime.metrics_path = rt["metrics_path"];
    r.runtime.log_path = rt["log_path"];
    r.runtime.overlay_path = rt["overlay_path"];
    r.runtime.work_disk_path = rt["work_disk_path"];
    r.handles = json::parse(reinterpret_cast<const char*>(sqlite3_column_text(s, 14)));
    return r;
  }

  VmRecord GetByName(const std::string& name) {
    sqlite3_reset(by_name_);
    sqlite3_bind_text(by_name_, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(by_name_) != SQLITE_ROW) std::abort();
    return Row(by_name_);
  }

  std::vector<VmRecord> List() {
    std::vector<VmRecord> out;
    sqlite3_reset(all_);
    while (sqlite3_step(all_) == SQLITE_ROW) out.push_back(Row(all_));
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt *upsert_ = nullptr, *by_name_ = nullptr, *all_ = nullptr;
};

// ---- fixtures, built once ----

std::vector<VmRecord>& Records() {
  static std::vector<VmRecord> records = [] {
    std::vector<VmRecord> v;
    for (int i = 0; i < kRecords; ++i) v.push_back(RealisticRecord(i));
    return v;
  }();
  return records;
}

std::string LmdbDir() {
  return g_dir + "/banger-bench-lmdb-" + std::to_string(::getpid());
}

std::unique_ptr<VmStore> g_lmdb;

VmStore& Lmdb() {
  if (!g_lmdb)
    g_lmdb = [] {
      std::string dir = LmdbDir();
      std::filesystem::remove_all(dir);
      auto s = VmStore::Open({dir, 64u << 20});
      if (!s) std::abort();
      for (int i = 0; i < kRecords; i += kBatch) {
        std::vector<VmRecord> batch(Records().begin() + i, Records().begin() + i + kBatch);
        if (!(*s)->UpsertMany(batch)) std::abort();
      }
      return std::move(s.value());
    }();
  return *g_lmdb;
}

// Agent start: open the store and decode every record into the snapshot.
double OpenLoadNs() {
  g_lmdb.reset();
  double best = 1e18;
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto s = VmStore::Open({LmdbDir(), 64u << 20});
    auto ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    if (!s || (*s)->List().records.size() != kRecords) std::abort();
    best = std::min(best, ns);
  }
  return best;
}

SqliteStore& Sqlite() {
  static std::unique_ptr<SqliteStore> store = [] {
    auto s = std::make_unique<SqliteStore>(g_dir + "/banger-bench-" + std::to_string(::getpid()) +
                                           ".sqlite");
    s->Exec("BEGIN");
    for (const auto& r : Records()) s->Upsert(r);
    s->Exec("COMMIT");
    return s;
  }();
  return *store;
}

// ---- the benchmarks: each pair does the same work ----

void BM_DurableUpsert_Banger(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    VmRecord r = Records()[i++ % kRecords];
    r.updated_at_ms += 1;
    if (!Lmdb().Upsert(r)) state.SkipWithError("upsert failed");
  }
}
void BM_DurableUpsert_Sqlite(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    VmRecord r = Records()[i++ % kRecords];
    r.updated_at_ms += 1;
    Sqlite().Upsert(r);  // autocommit: one durable transaction each
  }
}

void BM_Batch1000Upsert_Banger(benchmark::State& state) {
  // Batches are cut before timing, as the SQLite side reads Records() in place.
  std::vector<std::vector<VmRecord>> batches;
  for (int i = 0; i < kRecords; i += kBatch) {
    batches.emplace_back(Records().begin() + i, Records().begin() + i + kBatch);
  }
  size_t next = 0;
  for (auto _ : state) {
    if (!Lmdb().UpsertMany(batches[next])) state.SkipWithError("batch failed");
    next = (next + 1) % batches.size();
  }
}
void BM_Batch1000Upsert_Sqlite(benchmark::State& state) {
  int start = 0;
  for (auto _ : state) {
    Sqlite().Exec("BEGIN");
    for (int i = start; i < start + kBatch; ++i) Sqlite().Upsert(Records()[i]);
    Sqlite().Exec("COMMIT");
    start = (start + kBatch) % kRecords;
  }
}

void BM_GetByName_Banger(benchmark::State& state) {
  std::mt19937 rng(42);
  for (auto _ : state) {
    auto r = Lmdb().GetByName(Records()[rng() % kRecords].name);
    benchmark::DoNotOptimize(r);
  }
}
void BM_GetByName_Sqlite(benchmark::State& state) {
  std::mt19937 rng(42);
  for (auto _ : state) {
    auto r = Sqlite().GetByName(Records()[rng() % kRecords].name);
    benchmark::DoNotOptimize(r);
  }
}

void BM_ListAll_Banger(benchmark::State& state) {
  for (auto _ : state) {
    auto l = Lmdb().List();
    if (l.records.size() != kRecords) state.SkipWithError("wrong count");
  }
}
void BM_ListAll_Sqlite(benchmark::State& state) {
  for (auto _ : state) {
    auto l = Sqlite().List();
    if (l.size() != kRecords) state.SkipWithError("wrong count");
  }
}

BENCHMARK(BM_DurableUpsert_Banger)->Unit(benchmark::kMicrosecond)->MinTime(2);
BENCHMARK(BM_DurableUpsert_Sqlite)->Unit(benchmark::kMicrosecond)->MinTime(2);
BENCHMARK(BM_Batch1000Upsert_Banger)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK(BM_Batch1000Upsert_Sqlite)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK(BM_GetByName_Banger)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GetByName_Sqlite)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ListAll_Banger)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ListAll_Sqlite)->Unit(benchmark::kMillisecond);

// Collects real time per iteration (ns) by benchmark name, for the summary.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred) {
        std::string name = r.benchmark_name();
        ns_[name.substr(0, name.find('/'))] =
            r.real_accumulated_time * 1e9 / static_cast<double>(r.iterations);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double ns(const std::string& name) const {
    auto it = ns_.find(name);
    return it == ns_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, double> ns_;
};

std::string Human(double ns) {
  char buf[32];
  if (ns < 1e3)
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(buf, sizeof buf, "%.2f us", ns / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  return buf;
}

void PrintSummary(const CollectingReporter& r, nlohmann::json& figures) {
  struct Row {
    const char* op;
    const char* bench;
    const char* target;
    bool (*met)(double banger, double sqlite);
  };
  const Row rows[] = {
      {"durable upsert, 1 record", "DurableUpsert", "-", nullptr},
      {"batch upsert, 1,000 in 1 txn", "Batch1000Upsert", "<= SQLite's batch",
       [](double b, double s) { return b <= s; }},
      {"get by name", "GetByName", "<= 2 us", [](double b, double) { return b <= 2000; }},
      {"list all 10,000", "ListAll", "<= 5 ms", [](double b, double) { return b <= 5e6; }},
  };
  std::printf("\n%-30s %12s %14s %14s  %-18s %s\n", "operation (10,000 records)", "banger",
              "SQLite WAL", "SQLite/banger", "target", "met");
  for (const auto& row : rows) {
    double b = r.ns(std::string("BM_") + row.bench + "_Banger");
    double s = r.ns(std::string("BM_") + row.bench + "_Sqlite");
    std::printf("%-30s %12s %14s %13.1fx  %-18s %s\n", row.op, Human(b).c_str(), Human(s).c_str(),
                b > 0 ? s / b : 0, row.target, row.met ? (row.met(b, s) ? "yes" : "NO") : "-");
    figures[row.bench] = {
        {"banger_ns", b}, {"sqlite_ns", s}, {"sqlite_vs_banger", b > 0 ? s / b : 0}};
  }
  figures["OpenWith10000"] = {{"banger_ns", OpenLoadNs()}};
  std::printf("%-30s %12s   (agent start: open + decode every record; best of 5)\n",
              "open with 10,000 records",
              Human(figures["OpenWith10000"]["banger_ns"].get<double>()).c_str());
}

}  // namespace
}  // namespace banger::core

int main(int argc, char** argv) {
  std::vector<char*> args;
  banger::bench::BenchReport report("store");
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i > 0 && report.TakeArg(a)) continue;
    if (a.rfind("--dir=", 0) == 0) {
      banger::core::g_dir = a.substr(6);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  banger::core::Lmdb();  // populate both before timing anything
  banger::core::Sqlite();
  banger::core::CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  banger::core::PrintSummary(reporter, report.figures());
  banger::core::g_lmdb.reset();
  std::filesystem::remove_all(banger::core::LmdbDir());
  for (const char* suffix : {".sqlite", ".sqlite-wal", ".sqlite-shm"}) {
    std::filesystem::remove(banger::core::g_dir + "/banger-bench-" + std::to_string(::getpid()) +
                            suffix);
  }
  return report.Write() ? 0 : 1;
}
