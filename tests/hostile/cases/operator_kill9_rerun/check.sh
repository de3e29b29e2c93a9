[ "$(cat tmp_before)" -ge 3 ] || { echo "the killed run left $(cat tmp_before) temporary files, expected 3"; exit 1; }
left=$(ls | grep '\.tmp') && { echo "left behind: $left"; exit 1; }
[ "$(wc -l < out.csv)" = 300001 ] || { echo "out.csv is not the rerun's"; exit 1; }
