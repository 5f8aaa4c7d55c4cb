#include "tools/bangerctl/table.h"

#include <gtest/gtest.h>

namespace bangerctl {
namespace {

TEST(TableTest, AlignsColumnsAndFillsEmptyCells) {
  Table t({"NAME", "STATUS", "PATH"});
  t.AddRow({"tap", "ok", "/p/tap.so"});
  t.AddRow({"stale-reaper", "", "/p/x.so"});
  EXPECT_EQ(t.Render(),
            "NAME          STATUS  PATH\n"
            "tap           ok      /p/tap.so\n"
            "stale-reaper  -       /p/x.so\n");
}

TEST(TableTest, ShortRowsArePadded) {
  Table t({"A", "B"});
  t.AddRow({"x"});
  EXPECT_EQ(t.Render(), "A  B\nx  -\n");
}

}  // namespace
}  // namespace bangerctl
