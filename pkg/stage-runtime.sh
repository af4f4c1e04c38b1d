#!/bin/sh
# Build stage of pkg/*/Dockerfile (Alpine): puts node and every shared library it links under
# the private prefix /usr/lib/memlogd ({bin,lib}) and points node at them (ELF interpreter and
# RUNPATH), so node runs from the prefix whatever the rest of the root holds: LinuxKit's own
# init image carries an older musl, and a service image has nothing else at all.
# Fails the build when anything node or the addon needs would still come from outside.
set -eu
prefix=${PREFIX:-/usr/lib/memlogd}   # PREFIX: for trying the script elsewhere
addon=$1    # the built addon, checked too
mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/share/icu"
cp "$(command -v node)" "$prefix/bin/node"

# ldd lines: "libstdc++.so.6 => /usr/lib/libstdc++.so.6 (0x...)" and "/lib/ld-musl-x86_64.so.1 (0x...)".
# A library is stored under the name node asks for (left of =>). musl's libc is its loader.
ldd "$prefix/bin/node" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3; next } $1 ~ /^\// { print "-", $1 }' |
  while read -r name file; do
    [ "$name" = - ] && name=${file##*/}
    cp -L "$file" "$prefix/lib/$name"
  done
# Alpine's node uses the system ICU, whose data is a file ldd cannot see (icu-data-en or
# icu-data-full: /usr/share/icu/<version>/icudt<N>l.dat). The launchers point NODE_ICU_DATA here.
for dat in /usr/share/icu/*/icudt*.dat; do
  [ -e "$dat" ] && cp "$dat" "$prefix/share/icu/"
done
loader=$(ls "$prefix"/lib/ld-*.so* | head -n1)
patchelf --set-interpreter "$loader" --set-rpath "$prefix/lib" "$prefix/bin/node"

# The check: every library node or the addon asks for is in the prefix under that name (musl's
# loader answers for its libc by itself, so it needs no other check).
for bin in "$prefix/bin/node" "$addon"; do
  for name in $(ldd "$bin" | awk '$2 == "=>" && $1 !~ /^\// { print $1 }'); do
    if [ ! -e "$prefix/lib/$name" ]; then
      echo "stage-runtime: $bin links $name, which is not in $prefix/lib" >&2
      exit 1
    fi
  done
done
# And node runs from the prefix alone, with the system's ICU data out of the way.
[ -d /usr/share/icu ] && mv /usr/share/icu /usr/share/icu.hidden
NODE_ICU_DATA=$prefix/share/icu "$prefix/bin/node" -e \
  'console.log(`node ${process.version} runs from ${process.execPath}; ${new Date(0).toLocaleDateString("de-DE")}`)'
[ -d /usr/share/icu.hidden ] && mv /usr/share/icu.hidden /usr/share/icu
exit 0
