#include "core/api/route_table.h"

#include <gtest/gtest.h>

namespace banger::core {
namespace {

HttpRequest Request(const std::string& method, const std::string& path) {
  HttpRequest r;
  r.method = method;
  r.path = path;
  return r;
}

HttpResponse Echo(const HttpRequest& r) {
  std::string s = r.method;
  for (const auto& [k, v] : r.params) s += " " + k + "=" + v;
  return JsonResponse(200, s);
}

TEST(RouteTableTest, MatchesLiteralAndParamSegments) {
  RouteTable t;
  t.Add("GET", "/v1/capabilities", Echo);
  t.Add("GET", "/v1/capabilities/{name}", Echo);
  HttpRequest r = Request("GET", "/v1/capabilities/tap");
  EXPECT_EQ(t.Dispatch(r).body, "GET name=tap");
  HttpRequest l = Request("GET", "/v1/capabilities/");
  EXPECT_EQ(t.Dispatch(l).body, "GET");
}

TEST(RouteTableTest, PercentDecodesSegments) {
  RouteTable t;
  t.Add("GET", "/v1/x/{p}", Echo);
  HttpRequest r = Request("GET", "/v1/x/a%2Db");
  EXPECT_EQ(t.Dispatch(r).body, "GET p=a-b");
}

TEST(RouteTableTest, UnknownPathIs404AndWrongMethodIs405) {
  RouteTable t;
  t.Add("GET", "/v1/capabilities", Echo);
  HttpRequest a = Request("GET", "/v1/nothing");
  EXPECT_EQ(t.Dispatch(a).status, 404);
  HttpRequest b = Request("POST", "/v1/capabilities");
  auto res = t.Dispatch(b);
  EXPECT_EQ(res.status, 405);
  EXPECT_NE(res.body.find("POST is not allowed on /v1/capabilities"), std::string::npos);
}

}  // namespace
}  // namespace banger::core
