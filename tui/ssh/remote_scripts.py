"""The POSIX sh scripts run on the remote side: nothing but sh and coreutils is needed there.
(The quoting preamble, the marker and the GPU query are in tui/runs/sh_scripts.py: they run on this
machine too.)

Each script is sent on the stdin of ``sh -s``; its arguments are assigned in a preamble written
here with shell quoting, so only the literal ``sh -s`` ever passes through the user's login shell
(which may be csh or fish). Every script ends by reading nothing from stdin: the body runs with
stdin from /dev/null, because bash reads a script from stdin one byte at a time and a command that
read stdin would eat the rest of the script.
"""
from __future__ import annotations

from dataclasses import dataclass

from tui.readers.file_state import FINGERPRINT_BYTES, FileState
from tui.runs.process_state import PID_MAX
from tui.runs.sh_scripts import assign as _assign, shell_script


# Where a target is and what it is: "@TW dir ABS" (+ "@TW rundir" and a listing, newest first,
# directories ending in /), "@TW file ABS", "@TW notfile ABS", "@TW denied" or "@TW missing".
_PROBE_BODY = r'''
case $tw_t in "~") tw_t=$HOME ;; "~/"*) tw_t=$HOME/${tw_t#"~/"} ;; "") tw_t=. ;; esac
if [ -d "$tw_t" ]; then
  if [ ! -x "$tw_t" ] || [ ! -r "$tw_t" ]; then echo "@TW denied"; exit 0; fi
  tw_abs=$(cd -- "$tw_t" && pwd)
  echo "@TW dir $tw_abs"
  if [ -f "$tw_abs/run.json" ]; then echo "@TW rundir"; fi
  find "$tw_abs" -mindepth 1 -maxdepth "$tw_depth" -name '.*' -prune -o -exec ls -dtp -- {} + 2>/dev/null
elif [ -e "$tw_t" ]; then
  tw_abs=$(cd -- "$(dirname -- "$tw_t")" && pwd)/$(basename -- "$tw_t")
  if [ ! -f "$tw_t" ]; then echo "@TW notfile $tw_abs"
  elif [ -r "$tw_t" ]; then echo "@TW file $tw_abs"
  else echo "@TW denied"; fi
else
  tw_d=$(dirname -- "$tw_t")
  if [ -d "$tw_d" ] && [ ! -x "$tw_d" ]; then echo "@TW denied"; else echo "@TW missing"; fi
fi
'''


def probe_script(path: str, depth: int) -> str:
    return shell_script([_assign("tw_t", path), _assign("tw_depth", depth + 1)], _PROBE_BODY)


@dataclass(slots=True)
class StreamedFile:
    """What the stream script is told about one file: where to start and what it last saw."""

    path: str  # absolute
    whole: bool  # re-sent whole when it changes (trainer_state.json, run.json), else appended bytes
    at: FileState  # the inode last seen, bytes already received (append mode), their first bytes


# One line per event, "@TW <file number> <what> [args]", data following its header:
#   ino N | replaced N | missing | denied | truncated | data OFFSET LENGTH + bytes | whole LENGTH + bytes
# (a "replaced" may come after a last "data" from the old file, read under its rotated name)
# and "@TW 0 sync" at the end of a round that sent something and caught up with every file (or
# every 8 quiet rounds: the heartbeat, at most 8 s apart); a round that sent a file's next chunk
# only says nothing more (its data is the sign of life).
# A file that shrinks between the size check and the read is padded with NULs to the announced
# length, so the framing holds; the next round then reports it truncated.
_STREAM_BODY = r'''
nl='
'
tw_head() { head -c "$1" -- "$tw_p" 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
# A rotated file (a new inode at the path): the old one's bytes past our offset, written before the
# rename and maybe while the connection was down, are sent from its new name beside the path
# (train.log.1), found by its inode, before the new file is read from its start.
tw_rest_of_old() {
  for tw_c in "${tw_p%/*}"/*; do
    [ "$tw_c" = "$tw_p" ] && continue
    set -f; set -- $(ls -dLin -- "$tw_c" 2>/dev/null); set +f
    if [ "${1:-}" = "$tw_k" ] && [ "${6:-0}" -gt "$tw_o" ]; then
      tw_len=$(($6 - tw_o))
      printf '@TW %s data %s %s\n' "$tw_i" "$tw_o" "$tw_len"
      { tail -c +$((tw_o + 1)) -- "$tw_c" 2>/dev/null | head -c "$tw_len"
        dd if=/dev/zero bs=65536 count=$(((tw_len + 65535) / 65536)) 2>/dev/null; } | head -c "$tw_len"
      return
    fi
  done
}
tw_beat=0 tw_quiet=0
while :; do
  tw_all=$(tw_list)
  tw_busy=0 tw_out=0 tw_i=1
  while [ "$tw_i" -le "$tw_n" ]; do
    eval "tw_p=\$tw_p$tw_i tw_w=\$tw_w$tw_i tw_o=\$tw_o$tw_i tw_k=\$tw_k$tw_i tw_s=\$tw_s$tw_i tw_f=\$tw_f$tw_i"
    tw_line=
    tw_rest=$tw_all
    while [ -n "$tw_rest" ]; do
      tw_l=${tw_rest%%"$nl"*}
      case $tw_rest in *"$nl"*) tw_rest=${tw_rest#*"$nl"} ;; *) tw_rest= ;; esac
      case $tw_l in *" $tw_p") tw_line=$tw_l; break ;; esac
    done
    if [ -z "$tw_line" ]; then
      tw_new=missing
      if [ "$tw_s" != missing ]; then printf '@TW %s missing\n' "$tw_i"; tw_out=1; fi
      tw_k=- tw_o=0 tw_f=
      [ "$tw_w" = whole ] && tw_o=-
    elif [ ! -r "$tw_p" ]; then
      tw_new=denied
      if [ "$tw_s" != denied ]; then printf '@TW %s denied\n' "$tw_i"; tw_out=1; fi
    else
      tw_new=ok
      set -f; set -- $tw_line; set +f
      tw_ino=$1 tw_size=$6 tw_sig="$*"
      if [ "$tw_k" != "$tw_ino" ]; then
        if [ "$tw_k" = - ]; then printf '@TW %s ino %s\n' "$tw_i" "$tw_ino"
        else
          [ "$tw_w" = whole ] || tw_rest_of_old
          printf '@TW %s replaced %s\n' "$tw_i" "$tw_ino"
          tw_o=0 tw_f=
          [ "$tw_w" = whole ] && tw_o=-
        fi
        tw_k=$tw_ino tw_out=1
      fi
      if [ "$tw_w" = whole ]; then
        if [ "$tw_sig" != "$tw_o" ]; then
          tw_data=$(cat -- "$tw_p" 2>/dev/null; echo x)
          tw_data=${tw_data%x}
          printf '@TW %s whole %s\n' "$tw_i" "${#tw_data}"
          printf '%s' "$tw_data"
          tw_o=$tw_sig tw_out=1
        fi
      else
        # Shorter than what we read, or other first bytes: truncated, or rewritten in place.
        tw_cut=0
        if [ "$tw_size" -lt "$tw_o" ]; then tw_cut=1
        elif [ "$tw_size" -gt "$tw_o" ] && [ "$tw_o" -gt 0 ] && [ -n "$tw_f" ] \
            && [ "$(tw_head $((${#tw_f} / 2)))" != "$tw_f" ]; then tw_cut=1
        elif [ "$tw_size" -eq "$tw_o" ] && [ "$tw_o" -gt 0 ] && [ -n "$tw_f" ] && [ $((tw_quiet % 4)) = 3 ] \
            && [ "$(tw_head $((${#tw_f} / 2)))" != "$tw_f" ]; then tw_cut=1  # rewritten to its old size
        fi
        if [ "$tw_cut" = 1 ]; then printf '@TW %s truncated\n' "$tw_i"; tw_o=0 tw_f= tw_out=1; fi
        if [ "$tw_size" -gt "$tw_o" ]; then
          tw_len=$((tw_size - tw_o))
          if [ "$tw_len" -gt "$tw_chunk" ]; then tw_len=$tw_chunk tw_busy=1; fi
          printf '@TW %s data %s %s\n' "$tw_i" "$tw_o" "$tw_len"
          { tail -c +$((tw_o + 1)) -- "$tw_p" 2>/dev/null | head -c "$tw_len"
            dd if=/dev/zero bs="$tw_len" count=1 2>/dev/null; } | head -c "$tw_len"
          tw_o=$((tw_o + tw_len)) tw_out=1
          if [ "${#tw_f}" -lt $((2 * tw_fp_bytes)) ]; then
            tw_f=$(tw_head $((tw_o < tw_fp_bytes ? tw_o : tw_fp_bytes)))
          fi
        fi
      fi
    fi
    eval "tw_o$tw_i=\$tw_o tw_k$tw_i=\$tw_k tw_s$tw_i=\$tw_new tw_f$tw_i=\$tw_f"
    tw_i=$((tw_i + 1))
  done
  tw_beat=$((tw_beat + 1))
  # Caught up (no file still cut to a chunk) and something sent, or quiet for 8 rounds: "sync".
  # While a history is still coming in chunks there is none: its first sync means all of it is here.
  if [ "$tw_busy" = 0 ] && { [ "$tw_out" = 1 ] || [ "$tw_beat" -ge 8 ]; }; then printf '@TW 0 sync\n'; tw_beat=0; fi
  # Quick rounds while the files move; after 8 quiet ones, one a second (each round forks ls and sleep).
  if [ "$tw_out" = 1 ]; then tw_quiet=0; else tw_quiet=$((tw_quiet + 1)); fi
  if [ "$tw_busy" = 1 ]; then :
  elif [ "$tw_quiet" -lt 8 ]; then sleep "$tw_interval" 2>/dev/null || sleep 1
  else sleep 1; fi
done
'''


def stream_script(files: list[StreamedFile], interval: float, chunk_bytes: int) -> str:
    """Follow ``files`` from where we are, forever; one ``ls`` per round whatever the number of files."""
    assignments = [_assign("tw_n", len(files)), _assign("tw_interval", interval), _assign("tw_chunk", chunk_bytes),
                   _assign("tw_fp_bytes", FINGERPRINT_BYTES)]
    for number, file in enumerate(files, 1):
        assignments.append(" ".join((
            _assign(f"tw_p{number}", file.path), _assign(f"tw_w{number}", "whole" if file.whole else "append"),
            _assign(f"tw_o{number}", "-" if file.whole else file.at.offset), _assign(f"tw_k{number}", file.at.identity),
            _assign(f"tw_f{number}", file.at.head.hex()), f"tw_s{number}=")))
    paths = " ".join(f'"$tw_p{number}"' for number in range(1, len(files) + 1))
    assignments.append(f"tw_list() {{ ls -dLin -- {paths} 2>/dev/null; }}")
    return shell_script(assignments, _STREAM_BODY)


# Is this run ours to act on? Prints why not (one line per problem), or nothing: the run directory,
# its record and its control file must be the login user's and writable by no one else, and the
# files must not be symbolic links (a link planted there would take our writes elsewhere).
_OURS_FUNCTIONS = r'''
tw_unsafe() {
  if [ "$2" != dir ] && [ -h "$1" ]; then echo "$1 is a symbolic link"; return; fi
  tw_ls=$(ls -dLn -- "$1" 2>/dev/null) || { echo "cannot look at $1"; return; }
  set -f; set -- "$1" $tw_ls; set +f
  case $2 in ?????w*|????????w*) echo "$1 is writable by group or others"; return ;; esac
  [ "$4" = "$(id -u)" ] || echo "$1 belongs to another user"
}
tw_not_ours() {
  tw_unsafe "$tw_dir" dir
  tw_unsafe "$tw_dir/run.json"
  if [ -e "$tw_dir/control.jsonl" ] || [ -h "$tw_dir/control.jsonl" ]; then tw_unsafe "$tw_dir/control.jsonl"; fi
}
'''

# Control: append one command line to the control file, creating it owner-only; refused (as the
# trainer refuses it) unless the run is ours.
_APPEND_BODY = _OURS_FUNCTIONS + r'''
umask 077
tw_bad=$(tw_not_ours | head -n 1)
if [ -n "$tw_bad" ]; then echo "@TW unsafe $tw_bad"; exit 3; fi
printf '%s\n' "$tw_line" >> "$tw_dir/control.jsonl" || { echo "@TW unsafe cannot write $tw_dir/control.jsonl"; exit 3; }
echo "@TW ok"
'''


def append_script(run_dir: str, line: str) -> str:
    return shell_script([_assign("tw_dir", run_dir), _assign("tw_line", line)], _APPEND_BODY)


# Which process the record names, checked as process_state.py checks it here. tw_why says why the
# pid must never be signalled: not a plain decimal from 2 to PID_MAX (kill reads -1 as "every
# process of the user", 0 as "my group", -N as a group), or no start time to check it by. Else
# tw_live=yes when /proc shows it running and started when recorded.
_PROCESS_CHECK = r'''
tw_why= tw_live=no
case $tw_pid in
  ''|0*|*[!0-9]*) tw_why="pid $tw_pid is not a usable pid (an integer from 2 to $tw_pid_max)" ;;
  *) if [ "${#tw_pid}" -gt "${#tw_pid_max}" ] || [ "$tw_pid" -le 1 ] || [ "$tw_pid" -gt "$tw_pid_max" ]; then
       tw_why="pid $tw_pid is not a usable pid (an integer from 2 to $tw_pid_max)"; fi ;;
esac
if [ -z "$tw_why" ]; then
  case $tw_ticks in
    ''|*[!0-9]*) tw_why="no usable start time to tell pid $tw_pid from a recycled one" ;;
  esac
fi
if [ -z "$tw_why" ] && [ ! -r /proc/self/stat ]; then tw_why="no /proc to check the start time of pid $tw_pid"; fi
if [ -z "$tw_why" ]; then
  tw_stat=$(cat "/proc/$tw_pid/stat" 2>/dev/null)
  if [ -n "$tw_stat" ]; then
    set -f; set -- ${tw_stat##*) }; set +f
    if [ "$#" -ge 20 ] && [ "$1" != Z ]; then
      shift 19
      if [ "$1" = "$tw_ticks" ]; then tw_live=yes; fi
    fi
  fi
fi
'''

_ALIVE_BODY = _PROCESS_CHECK + r'''
if [ "$tw_live" = yes ]; then echo "@TW alive"; else echo "@TW dead"; fi
'''


def _process_assignments(pid: object, start_ticks: object) -> list[str]:
    return [_assign("tw_pid", pid), _assign("tw_ticks", "" if start_ticks is None else start_ticks),
            _assign("tw_pid_max", PID_MAX)]


def alive_script(pid: object, start_ticks: object) -> str:
    return shell_script(_process_assignments(pid, start_ticks), _ALIVE_BODY)


# Stop by signal, only a checked pid of a run that is ours: note the signal in run.json first (as a
# local stop does, through a temporary file that mktemp creates exclusively), then signal the
# trainer's process group, or the process alone when it has no group of its own.
_SIGNAL_BODY = _OURS_FUNCTIONS + _PROCESS_CHECK + r'''
case $tw_sig in ''|*[!A-Z0-9]*) echo "@TW refused not a signal name: $tw_sig"; exit 0 ;; esac
if [ -n "$tw_why" ]; then echo "@TW refused $tw_why"; exit 0; fi
tw_bad=$(tw_not_ours | head -n 1)
if [ -n "$tw_bad" ]; then echo "@TW unsafe $tw_bad"; exit 0; fi
if [ "$tw_live" != yes ]; then echo "@TW gone"; exit 0; fi
tw_rec=$tw_dir/run.json
if tw_tmp=$(mktemp "$tw_rec.XXXXXXXXXX" 2>/dev/null); then
  if sed "s/\"stop_signal\": null/\"stop_signal\": \"SIG$tw_sig\"/" "$tw_rec" > "$tw_tmp" && chmod 644 "$tw_tmp"; then
    mv -f "$tw_tmp" "$tw_rec"
  else
    rm -f "$tw_tmp"
  fi
fi
# Its descendants, found before anything is signalled (once the trainer is gone they are init's):
# torchrun's workers run in sessions of their own, out of reach of the group's signal.
nl='
'
tw_table=$(ps -e -o pid= -o ppid= -o pgid= 2>/dev/null)
tw_kids= tw_todo=$tw_pid
while :; do
  set -f; set -- $tw_todo; set +f
  [ "$#" -gt 0 ] || break
  tw_p=$1; shift; tw_todo=$*
  tw_rest=$tw_table
  while [ -n "$tw_rest" ]; do
    tw_l=${tw_rest%%"$nl"*}
    case $tw_rest in *"$nl"*) tw_rest=${tw_rest#*"$nl"} ;; *) tw_rest= ;; esac
    set -f; set -- $tw_l; set +f
    [ "$#" -eq 3 ] && [ "$2" = "$tw_p" ] || continue
    case $1 in ''|*[!0-9]*) continue ;; esac
    tw_todo="$tw_todo $1"
    [ "$3" != "$tw_pid" ] && tw_kids="$tw_kids $1"
  done
done
kill -s "$tw_sig" -- "-$tw_pid" 2>/dev/null || kill -s "$tw_sig" -- "$tw_pid" 2>/dev/null
for tw_k in $tw_kids; do [ "$tw_k" -gt 1 ] && kill -s "$tw_sig" -- "$tw_k" 2>/dev/null; done
echo "@TW ok"
'''


def signal_script(run_dir: str, pid: object, start_ticks: object, signal_name: str) -> str:
    """The remote stop by signal. The pid is checked there too, so no caller can have a record's
    pid signalled unchecked."""
    return shell_script([_assign("tw_dir", run_dir), *_process_assignments(pid, start_ticks),
                         _assign("tw_sig", signal_name)], _SIGNAL_BODY)


# Lines of a file that hold every one of the given strings (event-log lookups: acks, run_start).
_GREP_BODY = r'''
if [ ! -e "$tw_f" ]; then exit 0; fi
grep -F -e "$tw_a" -- "$tw_f" | grep -F -e "$tw_b"
exit 0
'''


def grep_script(path: str, first: str, second: str) -> str:
    return shell_script([_assign("tw_f", path), _assign("tw_a", first), _assign("tw_b", second)], _GREP_BODY)


def cat_script(path: str) -> str:
    return shell_script([_assign("tw_f", path)], 'if [ -r "$tw_f" ]; then echo "@TW ok"; cat -- "$tw_f"; '
                        'elif [ -e "$tw_f" ]; then echo "@TW denied"; else echo "@TW missing"; fi')


# The runs under a folder, for the runs screen: "@TW root ABS" (or "@TW missing"), then per run
# directory "@TW run MTIME ABS", its listing (as the probe's, for pick_logs) and, when it has one,
# "@TW record LENGTH" followed by run.json's bytes.
_RUNS_BODY = r'''
case $tw_t in "~") tw_t=$HOME ;; "~/"*) tw_t=$HOME/${tw_t#"~/"} ;; "") tw_t=runs ;; esac
if [ ! -d "$tw_t" ] || [ ! -x "$tw_t" ]; then echo "@TW missing"; exit 0; fi
tw_abs=$(cd -- "$tw_t" && pwd)
echo "@TW root $tw_abs"
for tw_d in "$tw_abs"/*/; do
  [ -d "$tw_d" ] || continue
  tw_d=${tw_d%/}
  tw_m=$(stat -c %Y -- "$tw_d" 2>/dev/null || stat -f %m -- "$tw_d" 2>/dev/null || echo 0)
  echo "@TW run $tw_m $tw_d"
  find "$tw_d" -mindepth 1 -maxdepth "$tw_depth" -name '.*' -prune -o -exec ls -dtp -- {} + 2>/dev/null
  if [ -f "$tw_d/run.json" ] && [ -r "$tw_d/run.json" ]; then
    tw_n=$(wc -c < "$tw_d/run.json" | tr -d ' ')
    if [ "$tw_n" -le 1048576 ]; then echo "@TW record $tw_n"; head -c "$tw_n" -- "$tw_d/run.json"; echo; fi
  fi
done
'''


def runs_script(root: str, depth: int) -> str:
    return shell_script([_assign("tw_t", root), _assign("tw_depth", depth)], _RUNS_BODY)


# The bytes of files from given offsets, at most tw_max each: per request line "OFFSET PATH",
# "@TW data N OFFSET LENGTH" followed by that many bytes (offset 0 again for a file that shrank:
# "@TW truncated N" first), or "@TW missing N". N counts the requests from 1.
_CHUNKS_BODY = r'''
printf '%s\n' "$tw_req" | {
tw_i=0
while IFS= read -r tw_line; do
  [ -n "$tw_line" ] || continue
  tw_i=$((tw_i + 1)); tw_o=${tw_line%% *}; tw_f=${tw_line#* }
  if [ -f "$tw_f" ] && [ -r "$tw_f" ]; then
    tw_s=$(wc -c < "$tw_f" | tr -d ' ')
    if [ "$tw_s" -lt "$tw_o" ]; then echo "@TW truncated $tw_i"; tw_o=0; fi
    tw_n=$((tw_s - tw_o)); if [ "$tw_n" -gt "$tw_max" ]; then tw_n=$tw_max; fi
    echo "@TW data $tw_i $tw_o $tw_n"
    if [ "$tw_n" -gt 0 ]; then tail -c +$((tw_o + 1)) -- "$tw_f" | head -c "$tw_n"; fi
  else
    echo "@TW missing $tw_i"
  fi
done
}
'''


def chunks_script(requests: list[tuple[int, str]], max_bytes: int) -> str:
    lines = "\n".join(f"{int(offset)} {path}" for offset, path in requests if "\n" not in path)
    return shell_script([_assign("tw_req", lines), _assign("tw_max", int(max_bytes))], _CHUNKS_BODY)
