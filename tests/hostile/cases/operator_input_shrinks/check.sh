grep -q '"partial":true,"ending":"input_error"' run.json.partial || { echo "the summary does not say input_error"; exit 1; }
