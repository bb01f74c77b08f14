#!/bin/bash
# On the lent GPU machine (bench/device/pack.sh made .dev): unpacks Node, the bundled benches,
# PostgreSQL and the Vulkan loader, then runs the sections named in SECTIONS (default: matmul
# coordinator workloads) and copies their results to $OUT. Knobs: PEAK_GFLOPS (the GPU's fp32
# peak; default the H200's, 132 SMs × 128 lanes × 2 × 1.98 GHz), MATMUL_SIZES, COORD_PG,
# COORD_SCALE, COORD_RUNS (the coordinator bench's BENCH_COORD_* knobs). Each section has a
# timeout, so that one stuck section still leaves the others' results.
repo=$(pwd) started=$(date +%s)
step() { echo "=== [$(( $(date +%s) - started ))s] $*"; }
mkdir -p /tmp/d && cd /tmp/d && tar xJf "$repo/.dev/payload.tar.xz" && step unpacked
cp -r root/. / && for f in "$repo"/.dev/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export PATH=/tmp/d:$PATH
echo "$(nproc) cores, node $(node --version)"; nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do [ -f "$f" ] && export VK_DRIVER_FILES=$f && break; done
fi
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
cd /tmp/d/app && mkdir -p bench/results
results() { cp bench/results/* x/results/* "$OUT/" 2>/dev/null; }
sections=" ${SECTIONS:-matmul coordinator workloads} "
if [[ $sections == *" matmul "* ]]; then
  step matmul
  BENCH_F16=1 BENCH_HOSTS=dawn BENCH_SIZES=${MATMUL_SIZES:-1024,2048,4096,8192} BENCH_PEAK_GFLOPS=${PEAK_GFLOPS:-66900} BENCH_OUT=matmul-gpu timeout 170 node x/matmul.js 2>&1 | tail -30
  results
fi
if [[ $sections == *" coordinator "* ]]; then
  step postgres
  # PostgreSQL refuses to run as root: as nobody, through Python (the image's python3; no su there to rely on).
  mkdir -p /tmp/pgd && chown 65534 /tmp/pgd
  asnobody() { python3 -c "import os,sys; os.setgid(65534); os.setuid(65534); os.execvp('bash', ['bash', '-c', sys.argv[1]])" "$1"; }
  env="export LD_LIBRARY_PATH=/tmp/d/pglibs TZ=UTC LANG=C; cd /tmp/pgd;"
  asnobody "$env /usr/lib/postgresql/15/bin/initdb -U postgres -D /tmp/pgd/data -A trust --locale=C -E UTF8 > /tmp/pgd/initdb.log 2>&1" || tail -20 /tmp/pgd/initdb.log
  asnobody "$env /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgd/data -l /tmp/pgd/log -w -o '-p 55432 -k /tmp/pgd -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c shared_buffers=1GB' start" || tail -20 /tmp/pgd/log
  step coordinator
  BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres BENCH_COORD_UNITS= BENCH_COORD_PG=${COORD_PG:-1,2,3} BENCH_COORD_NODES=48 \
    BENCH_COORD_SCALE_NODES=${COORD_SCALE:-144} BENCH_COORD_RUNS=${COORD_RUNS:-1} timeout 300 node x/coordinator.js 2>&1 | grep -v '^ *at ' | tail -20
  results
fi
if [[ $sections == *" workloads "* ]]; then
  step workloads
  BENCH_WORKLOADS_RUNS=1 timeout 100 node x/workloads.js 2>&1 | tail -16
  results
fi
step done
