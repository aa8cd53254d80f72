#include "circolo/db/connection_pool.hpp"

#include <gtest/gtest.h>

using circolo::db::to_keyword_conninfo;

TEST(Conninfo, UrisBecomeKeywordPairs) {
  const auto out =
      to_keyword_conninfo("postgresql://circolo:s3cr%27t@127.0.0.1:5599/loyalty?sslmode=disable");
  EXPECT_NE(out.find("user='circolo'"), std::string::npos) << out;
  EXPECT_NE(out.find("password='s3cr\\'t'"), std::string::npos) << out;
  EXPECT_NE(out.find("host='127.0.0.1'"), std::string::npos) << out;
  EXPECT_NE(out.find("port='5599'"), std::string::npos) << out;
  EXPECT_NE(out.find("dbname='loyalty'"), std::string::npos) << out;
  EXPECT_NE(out.find("sslmode='disable'"), std::string::npos) << out;
}

TEST(Conninfo, KeywordStringsPassThrough) {
  // libpq lists the options in its own order.
  EXPECT_EQ(to_keyword_conninfo("host=db port=5432 dbname=circolo"),
            "dbname='circolo' host='db' port='5432'");
}

TEST(Conninfo, NonsenseIsRefused) {
  EXPECT_THROW(to_keyword_conninfo("host=db nonsense_option=1"), soci::soci_error);
  EXPECT_THROW(to_keyword_conninfo("postgresql://[bad"), soci::soci_error);
}
