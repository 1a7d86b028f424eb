#!/bin/sh
# objparam.sh [-p] OBJFILE SECTION KEY - prints the value of KEY in
# [SECTION] of an objective file (sim-env's format: "[section]" or
# "[kind name]" headers, "key = value" lines, "#" comments), or nothing.
# With -p the value is a path relative to the objective file's folder and is
# printed relative to the current folder; with -n it must be a number, and
# NaN is printed otherwise (absent, or an expression). Used by experiment.mk, which must
# know the trace and rf-fit's arguments before any tool runs; sim-env itself
# parses and validates the whole file.
set -eu
path=0 num=0
[ "${1:-}" = "-p" ] && { path=1; shift; }
[ "${1:-}" = "-n" ] && { num=1; shift; }
[ $# -eq 3 ] || { echo "usage: objparam.sh [-p|-n] OBJFILE SECTION KEY" >&2; exit 2; }
val=$(awk -v sec="$2" -v key="$3" '
	{ sub(/\r$/, ""); line = $0; sub(/#.*/, "", line) }
	line ~ /^[ \t]*\[/ {
		s = line; sub(/^[ \t]*\[[ \t]*/, "", s); sub(/[ \t]*\][ \t]*$/, "", s)
		gsub(/[ \t]+/, " ", s); cur = s; next
	}
	cur == sec && line ~ /=/ {
		k = line; sub(/=.*/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", k)
		if (k == key) { v = line; sub(/^[^=]*=/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit }
	}' "$1")
if [ "$path" = 1 ] && [ -n "$val" ]; then
	case $val in
	/*) ;;
	*) val=$(realpath -m --relative-to=. "$(dirname "$1")/$val") ;;
	esac
fi
if [ "$num" = 1 ]; then
	case $val in
	''|*[!0-9.eE+-]*) val=NaN ;;
	esac
fi
printf '%s\n' "$val"
