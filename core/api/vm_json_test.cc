#include "core/api/vm_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/api/json_text.h"

namespace banger::core {
namespace {

using nlohmann::json;

std::string Quoted(std::string_view s) {
  std::string out;
  JsonText::AppendString(out, s);
  return out;
}

TEST(JsonTextTest, StringsAreEscapedAndWhatIsNotUtf8BecomesTheReplacementCharacter) {
  EXPECT_EQ(Quoted("plain /path"), "\"plain /path\"");
  EXPECT_EQ(Quoted("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(Quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  // A lone continuation byte, a truncated sequence, an overlong form, a surrogate.
  for (std::string bad : {"\x80", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF5\x80\x80\x80"}) {
    std::string out = Quoted("x" + bad + "y");
    json parsed = json::parse(out);  // valid JSON, valid UTF-8
    EXPECT_EQ(parsed.get<std::string>().substr(0, 4), "x\xEF\xBF\xBD") << out;
    EXPECT_EQ(parsed.get<std::string>().back(), 'y') << out;
  }
}

TEST(JsonTextTest, LongStringsAreCheckedEightBytesAtATimeAndNothingSlipsThrough) {
  // Every byte value at every offset of a long string: what the word-wise
  // scan passes must be what the byte-wise one would.
  for (int c = 1; c < 256; ++c) {
    for (size_t at = 0; at < 24; ++at) {
      std::string s(24, 'a');
      s[at] = static_cast<char>(c);
      json parsed = json::parse(Quoted(s), nullptr, false);
      ASSERT_FALSE(parsed.is_discarded()) << "byte " << c << " at " << at;
      std::string back = parsed.get<std::string>();
      if (c < 0x80) {
        EXPECT_EQ(back, s) << "byte " << c << " at " << at;
      } else {
        EXPECT_EQ(back, s.substr(0, at) + "\xEF\xBF\xBD" + s.substr(at + 1));
      }
    }
  }
}

TEST(JsonTextTest, NumbersReadBackAndWhatIsNotFiniteIsNull) {
  std::string out;
  JsonText w(out);
  w.BeginArray();
  w.Int(-42);
  w.UInt(18446744073709551615ull);
  w.Double(0.1);
  w.Double(5);
  w.Double(1e300);
  w.Double(std::nan(""));
  w.Bool(true);
  w.Null();
  w.EndArray();
  EXPECT_EQ(out, "[-42,18446744073709551615,0.1,5.0,1e+300,null,true,null]");
}

VmRecord Running() {
  VmRecord r;
  r.id = std::string(32, 'a');
  r.name = "web";
  r.state = VmState::kRunning;
  r.spec.vcpus = 2;
  r.spec.memory_mib = 256;
  r.runtime.pid = 1234;
  r.runtime.api_socket = "/var/lib/banger/vms/a/\xff.sock";  // a path is bytes
  r.handles["tap"]["guest_ip"] = "10.0.0.2";
  r.options["portfwd.tcp"] = "8080:80";
  return r;
}

TEST(VmJsonTest, EveryMemberIsWrittenAndParsesBack) {
  VmStats figures;
  figures.collected_at_ms = 7;
  figures.values = {{"rss_bytes", 4096}, {"cpu_usage_ratio", 0.25}};
  json j = json::parse(VmJsonText(Running(), &figures));
  EXPECT_EQ(j["name"], "web");
  EXPECT_EQ(j["short_id"], "aaaaaaaa");
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["spec"]["vcpus"], 2);
  EXPECT_EQ(j["runtime"]["pid"], 1234);
  EXPECT_EQ(j["runtime"]["api_socket"], "/var/lib/banger/vms/a/\xEF\xBF\xBD.sock");
  EXPECT_FALSE(j["runtime"].contains("jail_root")) << "not jailed";
  EXPECT_EQ(j["handles"]["tap"]["guest_ip"], "10.0.0.2");
  EXPECT_EQ(j["options"]["portfwd.tcp"], "8080:80");
  EXPECT_EQ(j["stats"]["values"]["rss_bytes"], 4096.0);
  EXPECT_EQ(j["stats"]["collected_at_ms"], 7);
  EXPECT_EQ(j.size(), VmFields::kCount);
  json none = json::parse(VmJsonText(Running(), nullptr));
  EXPECT_TRUE(none["stats"]["values"].empty());
}

TEST(VmJsonTest, FieldsSelectMembersAndAnUnknownOneIsRefusedNamingTheKnown) {
  auto fields = VmFields::Parse("name,state,handles");
  ASSERT_TRUE(fields.ok());
  std::string out;
  JsonText w(out);
  AppendVmJson(w, Running(), nullptr, *fields);
  EXPECT_EQ(out,
            "{\"name\":\"web\",\"state\":\"running\",\"handles\":{\"tap\":{\"guest_ip\":"
            "\"10.0.0.2\"}}}");
  auto bad = VmFields::Parse("name,colour");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "?fields: 'colour' is not a field of a VM; they are " + VmFieldNames());
  EXPECT_EQ(VmFields::Parse("name,").status().code(), StatusCode::kInvalid);
}

}  // namespace
}  // namespace banger::core
