#include "tools/bangerctl/vm_listing.h"

#include <gtest/gtest.h>

namespace bangerctl {
namespace {

TEST(VmListingTest, TheTablesValuesAreReadAndTheRestPassedOver) {
  auto r = ParseVmListing(R"({"vms":[
{"name":"web","short_id":"0123abcd","state":"running","uptime_s":61,
 "spec":{"kernel_image":"/k","vcpus":2,"memory_mib":256,"boot_args":"name=\"x\""},
 "handles":{"nat":{"tap_name":"bt0"},"tap":{"guest_ip":"10.0.0.2","slot":"0"}},
 "stats":{"values":{"name":1.5}},"last_error":""},
{"name":"db","short_id":"4567ef01","state":"error","last_error":"start failed","spec":{"vcpus":1,"memory_mib":128},"handles":{}}],
"corrupt":[{"id":"ffff0000ffff0000ffff0000ffff0000","error":"crc"}],
"orphans":[{"kind":"directory without a record","id":"abc","detail":"/var/lib/banger/vms/abc"}]})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->vms.size(), 2u);
  EXPECT_EQ(r->vms[0].name, "web");
  EXPECT_EQ(r->vms[0].short_id, "0123abcd");
  EXPECT_EQ(r->vms[0].uptime_s, 61);
  EXPECT_EQ(r->vms[0].vcpus, 2u);
  EXPECT_EQ(r->vms[0].memory_mib, 256u);
  EXPECT_EQ(r->vms[0].guest_ip, "10.0.0.2");
  EXPECT_EQ(r->vms[1].state, "error");
  EXPECT_EQ(r->vms[1].last_error, "start failed");
  EXPECT_EQ(r->vms[1].guest_ip, "");
  ASSERT_EQ(r->corrupt.size(), 1u);
  EXPECT_EQ(r->corrupt[0].second, "crc");
  ASSERT_EQ(r->orphans.size(), 1u);
  EXPECT_EQ(r->orphans[0].detail, "/var/lib/banger/vms/abc");
}

TEST(VmListingTest, ABodyThatIsNotJsonIsAnErrorSayingWhere) {
  auto r = ParseVmListing("{\"vms\":[{\"name\":");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not JSON (at byte"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace bangerctl
