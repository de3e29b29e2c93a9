grep -q '"partial":true,"ending":"downstream_closed"' run.json.partial || { echo "the summary does not say downstream_closed"; exit 1; }
[ ! -s stderr ] || { echo "not quiet:"; cat stderr; exit 1; }
