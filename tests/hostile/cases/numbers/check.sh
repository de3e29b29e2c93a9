# p and u are plain numbers in [0, 1] on every row: no nan or inf leaks out.
tail -n +2 decisions.csv | cut -d, -f4,5 | grep -vqE '^[01](\.[0-9]+)?,0\.[0-9]+$' && { echo "bad p or u"; exit 1; }
exit 0
