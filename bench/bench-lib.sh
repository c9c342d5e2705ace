# Shell functions shared by the benchmark scripts in bench/ (sourced, not
# run): bench-default.sh, bench-producers.sh.

# now: wall-clock seconds with nanoseconds
now() { date +%s.%N; }

# median: the median (upper of the two middle values) of the numbers on
# stdin, one a line
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# cpu_of CMD...: run CMD in a subshell; print its children's user + system
# seconds (bash's times: the second line is the children's)
cpu_of() {
  ( "$@" >/dev/null; times ) | awk 'NR == 2 {
    split($1, u, /[ms]/); split($2, s, /[ms]/);
    print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

# wait_for TEST PATH SECONDS: wait until [ TEST PATH ] holds (e.g. -S for a
# socket, -e for a file), at most SECONDS; returns 1 on timeout
wait_for() {
  local end
  end=$(echo "$(now) + $3" | bc -l)
  until [ "$1" "$2" ]; do
    [ "$(echo "$(now) > $end" | bc -l)" = 1 ] && return 1
    sleep 0.01
  done
}
