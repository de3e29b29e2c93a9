[ ! -e run.json ] || { echo "run.json exists after a failed write"; exit 1; }
grep -q '"partial":true,"ending":"output_error"' run.json.partial || { echo "the summary does not say output_error"; exit 1; }
[ -e rej.csv.partial ] && [ ! -e rej.csv ] || { echo "rejects not kept as rej.csv.partial"; exit 1; }
