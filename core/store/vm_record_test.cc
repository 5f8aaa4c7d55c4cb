#include "core/store/vm_record.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "core/base/crc32c.h"

namespace banger::core {
namespace {

VmRecord FullRecord() {
  VmRecord r;
  r.id = "0123456789abcdef0123456789abcdef";
  r.name = "web-1";
  r.state = VmState::kRunning;
  r.created_at_ms = 1764126000123;
  r.updated_at_ms = 1764126000456;
  r.last_touched_at_ms = 1764126000789;
  r.last_error = "previous start: firecracker PUT /drives/rootfs: no such file";
  r.last_stop_reason = "stale-reaper: untouched for 2h";
  r.stopped_at_ms = 1764126000999;
  r.spec = {"/var/lib/banger/images/vmlinux-6.1",
            "/var/lib/banger/images/debian-12.ext4",
            "console=ttyS0 reboot=k panic=1 pci=off",
            2,
            512,
            4ull << 30,
            {}};
  r.runtime.vmm_state = "Running";
  r.runtime.pid = 4242;
  r.runtime.pid_start_time = 987654321;
  r.runtime.api_socket = "/var/lib/banger/vms/0123456789abcdef/firecracker.sock";
  r.runtime.vsock_path = "/var/lib/banger/vms/0123456789abcdef/vsock.sock";
  r.runtime.vsock_cid = 17;
  r.runtime.metrics_path = "/var/lib/banger/vms/0123456789abcdef/metrics.json";
  r.runtime.log_path = "/var/lib/banger/vms/0123456789abcdef/vmm.log";
  r.runtime.overlay_path = "/var/lib/banger/vms/0123456789abcdef/system.img";
  r.runtime.work_disk_path = "/var/lib/banger/vms/0123456789abcdef/work.img";
  r.runtime.started_at_ms = 1764126000500;
  r.handles["tap"] = {{"tap_name", "bt7"}, {"host_ip", "172.16.0.29"}, {"guest_ip", "172.16.0.30"}};
  r.handles["nat"] = {{"rule_key", "bt7/172.16.0.30"}};
  return r;
}

using TopMap = std::map<std::string, msgpack::object>;

// A record's encoding as its top-level map, the objects copied into `zone`.
TopMap Unpacked(const VmRecord& r, msgpack::zone& zone) {
  std::string blob = EncodeVmRecord(r);
  auto oh = msgpack::unpack(blob.data(), blob.size());
  TopMap top;
  msgpack::object(oh.get(), zone).convert(top);
  return top;
}

// A top-level map packed as it is (no sum added: as a schema-1 agent writes).
std::string Packed(const TopMap& top) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, top);
  return std::string(buf.data(), buf.size());
}

// Equal in every member this agent knows (unknown keys aside).
void ExpectSame(VmRecord a, VmRecord b) {
  for (VmRecord* r : {&a, &b}) {
    r->unknown.clear();
    r->spec.unknown.clear();
    r->runtime.unknown.clear();
  }
  EXPECT_TRUE(a == b);
}

TEST(VmRecordTest, EveryFieldRoundTrips) {
  VmRecord r = FullRecord();
  std::string blob = EncodeVmRecord(r);
  auto back = DecodeVmRecord(blob, r.id);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(r == *back);  // every member, the ones added later too
  EXPECT_EQ(back->short_id(), "01234567");
}

// Every key this agent writes, it reads back: none lands among the unknown
// keys kept for a newer agent (it would be written twice on the next rewrite).
TEST(VmRecordTest, EveryEncodedKeyIsDecoded) {
  auto back = DecodeVmRecord(EncodeVmRecord(FullRecord()), FullRecord().id);
  ASSERT_TRUE(back.ok()) << back.status().message();
  auto keys = [](const UnknownFields& u) {
    std::string out;
    for (const auto& [k, v] : u) out += k + " ";
    return out;
  };
  EXPECT_TRUE(back->unknown.empty()) << keys(back->unknown);
  EXPECT_TRUE(back->spec.unknown.empty()) << keys(back->spec.unknown);
  EXPECT_TRUE(back->runtime.unknown.empty()) << keys(back->runtime.unknown);
}

// A byte damaged after the write, the record still valid msgpack (a path
// changed): the checksum names it.
TEST(VmRecordTest, ADamagedByteIsCaughtByTheChecksum) {
  VmRecord r = FullRecord();
  std::string blob = EncodeVmRecord(r);
  auto at = blob.find("vmlinux-6.1");
  ASSERT_NE(at, std::string::npos);
  blob[at] = 'V';
  auto decoded = DecodeVmRecord(blob, r.id);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("vm record " + r.id + ": checksum mismatch"),
            std::string::npos)
      << decoded.status().message();
  blob.resize(blob.size() - 4);  // the end cut off
  EXPECT_FALSE(DecodeVmRecord(blob, r.id).ok());
}

// Schema 2 says a sum ends the record: one without it is damaged.
TEST(VmRecordTest, ASchema2RecordWithoutItsSumIsCaught) {
  VmRecord r = FullRecord();
  msgpack::zone zone;
  TopMap top = Unpacked(r, zone);
  top.erase("sum");
  auto decoded = DecodeVmRecord(Packed(top), r.id);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("has no checksum"), std::string::npos)
      << decoded.status().message();
}

// An agent of schema 1 rewrote a record: "v" 1, and the sum it kept as an
// unknown key no longer holds. It is read, and the stale sum dropped.
TEST(VmRecordTest, ASchema1RewriteWithAStaleSumIsRead) {
  VmRecord r = FullRecord();
  msgpack::zone zone;
  TopMap top = Unpacked(r, zone);
  top["v"] = msgpack::object(1, zone);
  top["name"] = msgpack::object(std::string("renamed"), zone);
  // "sum" kept as it was, no longer last or true.
  auto decoded = DecodeVmRecord(Packed(top), r.id);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->name, "renamed");
  EXPECT_TRUE(decoded->unknown.empty());
  EXPECT_TRUE(DecodeVmRecord(EncodeVmRecord(*decoded), r.id).ok());
}

TEST(Crc32cTest, TheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // CRC-32C's published check value
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(VmRecordTest, EveryStateRoundTrips) {
  for (auto s : {VmState::kCreated, VmState::kStarting, VmState::kRunning, VmState::kStopping,
                 VmState::kStopped, VmState::kError, VmState::kCreating}) {
    VmRecord r = FullRecord();
    r.state = s;
    EXPECT_EQ(DecodeVmRecord(EncodeVmRecord(r), r.id)->state, s);
  }
}

TEST(VmRecordTest, TypicalRecordIsUnder2KiB) {
  EXPECT_LT(EncodeVmRecord(FullRecord()).size(), 2048u);
}

// A top-level map packed as an agent of schema 2 or later writes it: its
// entries, then "sum" over every byte before it.
std::string PackWithSum(TopMap top) {
  top.erase("sum");
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(static_cast<uint32_t>(top.size() + 1));
  for (const auto& [k, v] : top) {
    p.pack(k);
    p.pack(v);
  }
  uint32_t sum = Crc32c(std::string_view(buf.data(), buf.size()));
  const char tail[] = {'\xa3',         's',      'u', 'm', '\xce', char(sum >> 24), char(sum >> 16),
                       char(sum >> 8), char(sum)};
  buf.write(tail, sizeof tail);
  return std::string(buf.data(), buf.size());
}

// A record as a newer agent would write it: extra keys at the top level and
// inside spec and runtime.
std::string NewerBlob(const VmRecord& r) {
  msgpack::zone zone;
  TopMap top = Unpacked(r, zone);
  TopMap spec, runtime;
  top["spec"].convert(spec);
  top["runtime"].convert(runtime);
  spec["gpu"] = msgpack::object(std::string("none"), zone);
  runtime["numa_node"] = msgpack::object(1, zone);
  top["spec"] = msgpack::object(spec, zone);
  top["runtime"] = msgpack::object(runtime, zone);
  top["v"] = msgpack::object(3, zone);
  top["labels"] = msgpack::object(std::map<std::string, std::string>{{"team", "ci"}}, zone);
  return PackWithSum(top);
}

TEST(VmRecordTest, UnknownKeysSurviveARewrite) {
  VmRecord r = FullRecord();
  auto decoded = DecodeVmRecord(NewerBlob(r), r.id);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ExpectSame(r, *decoded);
  decoded->name = "renamed";  // an older agent changes something and writes it back
  std::string rewritten = EncodeVmRecord(*decoded);

  auto oh = msgpack::unpack(rewritten.data(), rewritten.size());
  std::map<std::string, msgpack::object> top, spec, runtime;
  oh.get().convert(top);
  top["spec"].convert(spec);
  top["runtime"].convert(runtime);
  using Labels = std::map<std::string, std::string>;
  EXPECT_EQ(top["labels"].as<Labels>().at("team"), "ci");
  EXPECT_EQ(spec["gpu"].as<std::string>(), "none");
  EXPECT_EQ(runtime["numa_node"].as<int>(), 1);
  EXPECT_EQ(top["name"].as<std::string>(), "renamed");
}

// Earlier builds kept a VM's figures inside its record; such a record still
// decodes, and rewriting it drops them (they live in the stats table now and
// are published again every tick) instead of carrying a stale copy along.
TEST(VmRecordTest, FiguresInsideAnOldRecordAreDroppedOnRewrite) {
  VmRecord r = FullRecord();
  msgpack::zone zone;
  TopMap top = Unpacked(r, zone);
  top["stats"] =
      msgpack::object(std::map<std::string, double>{{"collected_at", 1764126001000.0}}, zone);
  std::string blob = PackWithSum(top);
  auto decoded = DecodeVmRecord(blob, r.id);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ExpectSame(r, *decoded);
  EXPECT_TRUE(decoded->unknown.empty());
  std::string rewritten = EncodeVmRecord(*decoded);
  std::map<std::string, msgpack::object> back;
  msgpack::unpack(rewritten.data(), rewritten.size()).get().convert(back);
  EXPECT_EQ(back.count("stats"), 0u);
}

TEST(VmRecordTest, FiguresRoundTripWithUnknownKeysKept) {
  VmStats s;
  s.collected_at_ms = 1764126001000;
  s.values = {{"cpu_percent", 12.5}, {"rss_bytes", 123456789.0}, {"net_rx_bytes", 42}};
  s.unknown = {{"histogram", std::string("\x93\x01\x02\x03", 4)}};  // [1, 2, 3]
  auto back = DecodeVmStats(EncodeVmStats(s), "abc");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->collected_at_ms, s.collected_at_ms);
  EXPECT_EQ(back->values, s.values);
  EXPECT_EQ(back->unknown, s.unknown);
}

TEST(VmRecordTest, CorruptFiguresAreAnErrorNamingTheVm) {
  auto s = DecodeVmStats(std::string("\x91\x01", 2), "deadbeef");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "vm stats deadbeef: is an array, expected a map");
  std::string blob = EncodeVmStats(VmStats{7, {{"cpu_percent", 1.0}}, {}});
  s = DecodeVmStats(std::string_view(blob).substr(0, blob.size() - 3), "deadbeef");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind("vm stats deadbeef: truncated", 0), 0u)
      << s.status().message();
}

TEST(VmRecordTest, MinimalOldRecordTakesDefaults) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, std::map<std::string, std::string>{{"id", "00000000000000000000000000000abc"},
                                                        {"name", "old"}});
  auto r =
      DecodeVmRecord(std::string_view(buf.data(), buf.size()), "00000000000000000000000000000abc");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "old");
  EXPECT_EQ(r->state, VmState::kCreated);
  EXPECT_EQ(r->spec.vcpus, 1u);
  EXPECT_EQ(r->spec.memory_mib, 128u);
  EXPECT_EQ(r->runtime.pid, 0);
  EXPECT_TRUE(r->handles.empty());
}

TEST(VmRecordTest, CorruptBlobIsAnErrorNamingTheVm) {
  auto r = DecodeVmRecord(std::string("\xc1\xc1\xc1", 3), "deadbeef");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("vm record deadbeef: not msgpack", 0), 0u)
      << r.status().message();
}

// The fuzzer's first find (fuzz/vm_record_fuzz): eleven bytes that declare
// an array of 808 million elements. Refused by its length, before msgpack
// allocates 13 GB for it.
TEST(VmRecordTest, ALengthLargerThanTheBlobIsRefusedBeforeAnyAllocation) {
  const unsigned char bytes[] = {0x8e, 0xa1, 0x8a, 0xfd, 0x5d, 0xdf, 0x30, 0x32, 0x66, 0xd9, 0x20};
  auto r =
      DecodeVmRecord(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes), "0123");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("damaged ("), std::string::npos) << r.status().message();
}

TEST(VmRecordTest, TruncatedBlobIsAnErrorNamingTheVm) {
  VmRecord full = FullRecord();
  std::string blob = EncodeVmRecord(full);
  auto r = DecodeVmRecord(std::string_view(blob).substr(0, blob.size() / 2), full.id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "vm record " + full.id + ": truncated (" +
                                      std::to_string(blob.size() / 2) +
                                      " bytes end inside the record)");
}

TEST(VmRecordTest, WrongTypesNameTheField) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(3);
  p.pack(std::string("id"));
  p.pack(std::string("0123456789abcdef0123456789abcdef"));
  p.pack(std::string("name"));
  p.pack(42);
  p.pack(std::string("spec"));
  p.pack(std::string("oops"));
  auto r =
      DecodeVmRecord(std::string_view(buf.data(), buf.size()), "0123456789abcdef0123456789abcdef");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "vm record 0123456789abcdef0123456789abcdef: field 'name' is an integer, expected a "
            "string");
}

TEST(VmRecordTest, NotAMapAndBadStateAreErrors) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, std::vector<int>{1, 2});
  auto a = DecodeVmRecord(std::string_view(buf.data(), buf.size()), "x");
  EXPECT_EQ(a.status().message(), "vm record x: is an array, expected a map");
  VmRecord r = FullRecord();
  std::string blob = EncodeVmRecord(r);
  auto pos = blob.find("running");
  blob.replace(pos, 7, "rnuning");
  auto b = DecodeVmRecord(blob, r.id);
  EXPECT_EQ(b.status().message(),
            "vm record " + r.id + ": field 'state' is 'rnuning', not a VM state");
}

TEST(VmRecordTest, IdsAreRandomHex) {
  std::string a = NewVmId(), b = NewVmId();
  EXPECT_TRUE(IsVmId(a));
  EXPECT_NE(a, b);
  EXPECT_FALSE(IsVmId("0123"));
  EXPECT_FALSE(IsVmId("0123456789ABCDEF0123456789abcdef"));
}

}  // namespace
}  // namespace banger::core
