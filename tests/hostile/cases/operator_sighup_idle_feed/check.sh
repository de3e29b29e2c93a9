[ -f alive.txt ] || { echo "crest died on SIGHUP or SIGUSR1"; exit 1; }
[ "$(wc -l < out.csv)" = 51 ] || { echo "out.csv has $(wc -l < out.csv) lines, not 51"; exit 1; }
