# build_release TARGET...: installs what is missing and builds the targets in build/release.
# Sourced by run.sh and bench.sh; expects $root.
build_release() {
  "$root/scripts/install-deps.sh"
  build="$root/build/release"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCIRCOLO_BUILD_TESTS=OFF -DCIRCOLO_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "$@"
  # What runs in production is hardened (docs/security.md): refuse to go on otherwise.
  local target
  for target in "$@"; do
    case "$target" in
      circolod) "$root/tests/security/hardening_check.sh" --fortify "$build/api/circolod" >/dev/null ;;
      circolo) "$root/tests/security/hardening_check.sh" --fortify "$build/admin-cli/circolo" >/dev/null ;;
    esac
  done
}
