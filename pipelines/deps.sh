#!/bin/sh
# deps.sh SET - make sure the Debian packages a make target needs are there.
# As root, missing packages are installed; otherwise the exact install line
# is printed and the target stops.
set -eu
case "${1:-build}" in
build)      pkgs="gcc make libcsv-dev libmsgpack-dev libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev" ;;
test)       pkgs="python3 python3-msgpack parallel rsync gnuplot-nox openssh-server openssh-client iproute2 procps util-linux slurm-wlm munge" ;;
run)        pkgs="gnuplot-nox" ;; # one `make experiment`
experiment) pkgs="parallel rsync gnuplot-nox openssh-client" ;; # the fan-outs
bench)      pkgs="python3 python3-sklearn python3-numpy wrk libopenblas-dev bc" ;;
fuzz)       pkgs="clang libclang-rt-14-dev" ;;
*) echo "deps.sh: unknown set '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "deps.sh: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 && apt-get install -y -qq $missing >/dev/null
else
	echo "meshrl needs these Debian packages; run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
