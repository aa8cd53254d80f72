# Finds SOCI's core and PostgreSQL backend. Debian's libsoci-dev ships headers and libraries but
# no CMake package configuration, so we locate them here and expose imported targets:
#   SOCI::core, SOCI::postgresql (which brings libpq through PostgreSQL::PostgreSQL).
include(FindPackageHandleStandardArgs)
find_package(PostgreSQL REQUIRED)

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_path(SOCI_POSTGRESQL_INCLUDE_DIR NAMES soci/postgresql/soci-postgresql.h HINTS ${SOCI_INCLUDE_DIR})
find_library(SOCI_CORE_LIBRARY NAMES soci_core)
find_library(SOCI_POSTGRESQL_LIBRARY NAMES soci_postgresql)

find_package_handle_standard_args(SOCI
  REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY SOCI_INCLUDE_DIR SOCI_POSTGRESQL_INCLUDE_DIR)

if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES
    IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
  add_library(SOCI::postgresql UNKNOWN IMPORTED)
  set_target_properties(SOCI::postgresql PROPERTIES
    IMPORTED_LOCATION "${SOCI_POSTGRESQL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_POSTGRESQL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "SOCI::core;PostgreSQL::PostgreSQL")
endif()
mark_as_advanced(SOCI_INCLUDE_DIR SOCI_POSTGRESQL_INCLUDE_DIR SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY)
