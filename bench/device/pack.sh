#!/bin/bash
# Packs the benches for a lent GPU machine that has no Node, no PostgreSQL and no network
# (this workplace's `device` tool: it carries an ignored folder of at most 64 MiB). Run here,
# after `npm ci` and with PostgreSQL 15 installed; writes .dev/ (ignored through
# .git/info/exclude), then: device run with carry [".dev"] and the command
# `bash bench/device/run.sh 2>&1 | tee $OUT/log.txt`. About 53 MiB, xz -9 (two minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
grep -qx '/.dev/' .git/info/exclude 2>/dev/null || echo '/.dev/' >> .git/info/exclude
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# The app: the bundle, the two packages it leaves outside (webgpu for linux-x64 alone), the CLI's entry.
mkdir -p "$stage/app/bin" "$stage/app/node_modules/webgpu/dist" "$stage/app/node_modules/@electric-sql"
node bench/device/bundle.mjs "$stage/app/x"
echo "import '../x/cli.js';" > "$stage/app/bin/supernet.mjs"
cp node_modules/webgpu/{index.js,package.json} "$stage/app/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$stage/app/node_modules/webgpu/dist/"
tar cf - -C node_modules/@electric-sql --exclude='*.map' --exclude='*.cjs' --exclude='*.d.ts' --exclude='*.d.cts' pglite | tar xf - -C "$stage/app/node_modules/@electric-sql"
cp "$(readlink -f "$(command -v node)")" "$stage/node"
# PostgreSQL 15 as Debian installs it (no JIT bitcode), UTC's zone file, and the libraries it
# links beyond glibc's own (the machine's distribution has other sonames: ICU 74, LDAP 2.6).
pg=/usr/lib/postgresql/15
mkdir -p "$stage/root$pg/bin" "$stage/root$pg/lib" "$stage/root/usr/share/postgresql" "$stage/root/usr/share/zoneinfo/Etc" "$stage/pglibs"
cp $pg/bin/{postgres,initdb,pg_ctl} "$stage/root$pg/bin/"
(cd $pg/lib && cp -r $(ls | grep -v bitcode) "$stage/root$pg/lib/")
cp -r /usr/share/postgresql/15 "$stage/root/usr/share/postgresql/"
cp -L /usr/share/zoneinfo/UTC "$stage/root/usr/share/zoneinfo/" && cp -L /usr/share/zoneinfo/Etc/UTC "$stage/root/usr/share/zoneinfo/Etc/"
for b in postgres initdb pg_ctl; do ldd $pg/bin/$b; done | awk '/=>/ {print $3}' | sort -u \
  | grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libdl|libpthread|libresolv|librt)\.so' | xargs -I{} cp -L {} "$stage/pglibs/"
rm -rf .dev && mkdir -p .dev/gl
tar cf - -C "$stage" node app pglibs root | xz -9 -T0 > .dev/payload.tar.xz
# The Vulkan loader and GLVND, which the NVIDIA driver's Vulkan ICD needs (the image has neither).
(cd .dev/gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>&1 | grep -v '^W:' || true)
du -sh .dev
