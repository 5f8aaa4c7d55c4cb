#include "tools/bangerctl/capabilities_command.h"

#include <gtest/gtest.h>

namespace bangerctl {
namespace {

const char* kReport = R"({
  "agent_abi": "1.0", "offline": false, "warnings": ["plugin dir /x: No such file or directory"],
  "capabilities": [
    {"name": "tap", "version": "1.0.0", "abi": "1.0", "status_text": "ok", "requires": [],
     "hooks": "init,prepare,cleanup,shutdown", "path": "/p/tap.so"},
    {"name": "nat", "version": "1.0.0", "abi": "1.0", "status_text": "ok", "requires": ["tap"],
     "hooks": "init,prepare,cleanup", "path": "/p/nat.so"},
    {"name": "old", "version": "", "abi": "2.0",
     "status_text": "error: built for capability ABI 2.0, this agent speaks ABI 1.0 (majors must match); rebuild it",
     "requires": [], "hooks": "", "path": "/p/old.so"}
  ]})";

TEST(CapabilitiesCommandTest, TableHasTheColumnsAndCutsLongStatuses) {
  EXPECT_EQ(RenderCapabilityTable(kReport, /*no_trunc=*/false),
            "NAME  VERSION  ABI  STATUS                                                            "
            "REQUIRES  HOOKS                          PATH\n"
            "tap   1.0.0    1.0  ok                                                                "
            "-         init,prepare,cleanup,shutdown  /p/tap.so\n"
            "nat   1.0.0    1.0  ok                                                                "
            "tap       init,prepare,cleanup           /p/nat.so\n"
            "old   -        2.0  error: built for capability ABI 2.0, this agent speaks ABI 1....  "
            "-         -                              /p/old.so\n"
            "(a status was cut; bangerctl caps NAME or --no-trunc shows it whole)\n"
            "warning: plugin dir /x: No such file or directory\n");
}

TEST(CapabilitiesCommandTest, NoTruncShowsTheWholeStatus) {
  std::string out = RenderCapabilityTable(kReport, /*no_trunc=*/true);
  EXPECT_NE(out.find("(majors must match); rebuild it"), std::string::npos);
  EXPECT_EQ(out.find("was cut"), std::string::npos);
}

}  // namespace
}  // namespace bangerctl
