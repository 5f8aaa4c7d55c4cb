# Package configuration for the banger capability SDK:
#   find_package(BangerSDK 0.1 REQUIRED)
#   banger_add_capability(hello SOURCES hello.cc)
include("${CMAKE_CURRENT_LIST_DIR}/BangerSDKTargets.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/BangerCapability.cmake")
