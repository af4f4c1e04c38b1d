#!/bin/sh
# /usr/bin/<tool> in our images (and in the test VM): runs dist/cmd/<tool>.js with the node that
# lives beside it under the private prefix /usr/lib/memlogd. Installed once per tool, under the
# tool's name; nothing here is specific to one tool.
#
# Everything is found relative to this file's own path, so the launcher also works the way
# LinuxKit documents reading logs, from a getty in another mount namespace:
#   /proc/1/root/usr/bin/logread -F
# There, the dynamic loader and the libraries node links (for Alpine's node /lib/ld-musl-*.so.1,
# libstdc++, ...) are not at the paths written into the node binary, or are other versions, so
# node is started through our own loader with our own library directory. Node then reports the
# loader as process.execPath; tools that start node again (memlogd -daemonize) are meant to be
# run the ordinary way, as /usr/bin/<tool> inside the root that carries them. The
# --preserve-symlinks flags keep node from resolving /proc/1/root (a symlink to "/" as the
# kernel reports it) away, which would name files of this mount namespace instead.

dir=${0%/*}
[ "$dir" = "$0" ] && dir=.
tool=${0##*/}
prefix=$dir/../lib/memlogd
# Alpine's node reads ICU's data from a file (pkg/stage-runtime.sh); Debian's build has it inside.
[ -d "$prefix/share/icu" ] && export NODE_ICU_DATA="$prefix/share/icu"

if [ "$dir" = /usr/bin ]; then
  exec "$prefix/bin/node" "$prefix/dist/cmd/$tool.js" "$@"
fi

for ld in "$prefix"/lib/ld-*.so*; do
  [ -f "$ld" ] && exec "$ld" --library-path "$prefix/lib" "$prefix/bin/node" \
    --preserve-symlinks --preserve-symlinks-main "$prefix/dist/cmd/$tool.js" "$@"
done
echo "$tool: no dynamic loader under $prefix/lib" >&2
exit 127
