// hello's unit tests, against the SDK's fake host (banger/testing.hpp): no
// agent, no root. Built when the example is configured with BUILD_TESTING.
#include <gtest/gtest.h>
#include <banger/testing.hpp>

extern "C" const banger_capability* banger_capability_entry(void);

namespace {

TEST(HelloTest, RegistersItsVerbAndGreetsAVmByName) {
  banger::testing::FakeHost host("hello", {{"greeting", "hi"}});
  banger::testing::Harness hello(banger_capability_entry(), host);
  ASSERT_TRUE(hello.Init().ok());
  EXPECT_EQ(host.verbs(), std::vector<std::string>{"hello"});
  host.AddVm("web");
  auto reply = hello.Query("hello", "web");
  ASSERT_TRUE(reply.ok()) << reply.status.message();
  EXPECT_EQ(reply.value, R"({"greeting":"hi, web"})");
}

TEST(HelloTest, AGreetingWithAQuoteIsStillJson) {
  banger::testing::FakeHost host("hello", {{"greeting", "say \"hi\""}});
  banger::testing::Harness hello(banger_capability_entry(), host);
  ASSERT_TRUE(hello.Init().ok());
  host.AddVm("web");
  EXPECT_EQ(hello.Query("hello", "web").value, R"({"greeting":"say \"hi\", web"})");
}

TEST(HelloTest, TakesNoPerVmOptions) {
  banger::testing::FakeHost host("hello");
  banger::testing::Harness hello(banger_capability_entry(), host);
  ASSERT_TRUE(hello.Init().ok());
  EXPECT_FALSE(hello.ValidateOptions({{"colour", "red"}}).ok());
}

}  // namespace
