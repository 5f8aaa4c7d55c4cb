#include "core/plugin_host/capability_library.h"

#include <gtest/gtest.h>

namespace banger::core {
namespace {

int Init(const banger_host*, void**, banger_message*) {
  return BANGER_OK;
}
int Tick(void*, int64_t, banger_message*) {
  return BANGER_OK;
}

banger_capability Valid() {
  banger_capability d{};
  d.struct_size = sizeof d;
  d.abi_major = BANGER_ABI_MAJOR;
  d.abi_minor = BANGER_ABI_MINOR;
  d.name = "valid-name_1";
  d.version = "1.0.0";
  d.init = &Init;
  return d;
}

std::string Error(const banger_capability& d) {
  return ValidateDescriptor(&d).message();
}

TEST(ValidateDescriptorTest, AcceptsAValidDescriptor) {
  auto valid = Valid();
  EXPECT_TRUE(ValidateDescriptor(&valid).ok());
  auto older_minor = Valid();
  older_minor.abi_minor = 0;
  EXPECT_TRUE(ValidateDescriptor(&older_minor).ok());
}

TEST(ValidateDescriptorTest, RefusesNull) {
  EXPECT_EQ(ValidateDescriptor(nullptr).message(), "entry point returned no descriptor (NULL)");
}

TEST(ValidateDescriptorTest, RefusesATruncatedDescriptor) {
  auto d = Valid();
  d.struct_size = 16;
  EXPECT_NE(Error(d).find("descriptor is 16 bytes; ABI 1.3 needs at least"), std::string::npos);
}

TEST(ValidateDescriptorTest, RefusesBadNamesAndMissingFields) {
  for (const char* bad :
       {"", "Upper", "-lead", "has space", "waytoolongnamewaytoolongnameabcdef"}) {
    auto d = Valid();
    d.name = bad;
    EXPECT_NE(Error(d).find("is not a capability name"), std::string::npos) << bad;
  }
  auto no_version = Valid();
  no_version.version = nullptr;
  EXPECT_EQ(Error(no_version), "descriptor has no version");
  auto no_init = Valid();
  no_init.init = nullptr;
  EXPECT_EQ(Error(no_init), "descriptor has no init hook (it is required)");
}

TEST(DescribeHooksTest, NamesPresentHooksAndTickInterval) {
  CapabilityHooks h;
  h.init = &Init;
  EXPECT_EQ(DescribeHooks(h), "init");
  h.tick = &Tick;
  h.tick_interval_ms = 10000;
  EXPECT_EQ(DescribeHooks(h), "init,tick(10s)");
  h.tick_interval_ms = 250;
  EXPECT_EQ(DescribeHooks(h), "init,tick(250ms)");
  h.tick_interval_ms = 0;
  EXPECT_EQ(DescribeHooks(h), "init,tick(off)");
}

}  // namespace
}  // namespace banger::core
