"""The POSIX sh scripts run on the remote side: nothing but sh and coreutils is needed there.
(The GPU query also runs on this machine, the same way, so local and remote runs show the same.)

Each script is sent on the stdin of ``sh -s``; its arguments are assigned in a preamble written
here with shell quoting, so only the literal ``sh -s`` ever passes through the user's login shell
(which may be csh or fish). Every script ends by reading nothing from stdin: the body runs with
stdin from /dev/null, because bash reads a script from stdin one byte at a time and a command that
read stdin would eat the rest of the script.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

# How many first bytes of an appended file are compared to notice a rewrite in place.
FINGERPRINT_BYTES = 64
# Lines the remote side prints to talk to us start with this; anything else (a chatty .bashrc)
# is skipped.
MARK = "@TW"


def _assign(name: str, value: str | int | float) -> str:
    return f"{name}={shlex.quote(str(value))}"


def shell_script(assignments: list[str], body: str) -> str:
    return "LC_ALL=C; export LC_ALL\n" + "\n".join(assignments) + "\n{\n" + body.strip("\n") + "\n} </dev/null\n"


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
    offset: int  # bytes already received (append mode)
    identity: str  # the inode last seen, "-" for none
    head: bytes = b""  # the file's first bytes as received: when they change, it was rewritten in place


# One line per event, "@TW <file number> <what> [args]", data following its header:
#   ino N | replaced N | missing | denied | truncated | data OFFSET LENGTH + bytes | whole LENGTH + bytes
# and "@TW 0 sync" at the end of a round that sent something (or every 8 rounds: the heartbeat,
# at most 8 s apart).
# A file that shrinks between the size check and the read is padded with NULs to the announced
# length, so the framing holds; the next round then reports it truncated.
_STREAM_BODY = r'''
nl='
'
tw_head() { head -c "$1" -- "$tw_p" 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
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
  if [ "$tw_out" = 1 ] || [ "$tw_beat" -ge 8 ]; then printf '@TW 0 sync\n'; tw_beat=0; fi
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
            _assign(f"tw_o{number}", "-" if file.whole else file.offset), _assign(f"tw_k{number}", file.identity),
            _assign(f"tw_f{number}", file.head[:FINGERPRINT_BYTES].hex()), f"tw_s{number}=")))
    paths = " ".join(f'"$tw_p{number}"' for number in range(1, len(files) + 1))
    assignments.append(f"tw_list() {{ ls -dLin -- {paths} 2>/dev/null; }}")
    return shell_script(assignments, _STREAM_BODY)


# Control: append one command line to the control file, refusing one that others could write
# (the trainer refuses it too), creating it owner-only.
_APPEND_BODY = r'''
umask 077
if [ -e "$tw_f" ]; then
  set -f; set -- $(ls -dln -- "$tw_f"); set +f
  case $1 in ?????w*|????????w*) echo "@TW unsafe $tw_f is writable by group or others"; exit 3 ;; esac
  if [ "$3" != "$(id -u)" ]; then echo "@TW unsafe $tw_f belongs to another user"; exit 3; fi
fi
printf '%s\n' "$tw_line" >> "$tw_f" || { echo "@TW unsafe cannot write $tw_f"; exit 3; }
echo "@TW ok"
'''


def append_script(path: str, line: str) -> str:
    return shell_script([_assign("tw_f", path), _assign("tw_line", line)], _APPEND_BODY)


# Is the process there, and is it still ours (same start time in /proc, where there is a /proc)?
_ALIVE_BODY = r'''
if ! kill -0 "$tw_pid" 2>/dev/null; then echo "@TW dead"; exit 0; fi
if [ -r "/proc/$tw_pid/stat" ]; then
  tw_stat=$(cat "/proc/$tw_pid/stat" 2>/dev/null)
  set -f; set -- ${tw_stat##*) }; set +f
  if [ "$1" = Z ]; then echo "@TW dead"; exit 0; fi
  shift 19
  if [ -n "$tw_ticks" ] && [ "$1" != "$tw_ticks" ]; then echo "@TW dead"; exit 0; fi
fi
echo "@TW alive"
'''


def alive_script(pid: int, start_ticks: int | None) -> str:
    return shell_script([_assign("tw_pid", pid), _assign("tw_ticks", "" if start_ticks is None else start_ticks)],
                        _ALIVE_BODY)


# Stop by signal: note the signal in run.json first (as a local stop does), then signal the
# trainer's process group, or the process alone when it has no group of its own.
_SIGNAL_BODY = r'''
tw_rec=$tw_dir/run.json
if [ -f "$tw_rec" ]; then
  sed "s/\"stop_signal\": null/\"stop_signal\": \"SIG$tw_sig\"/" "$tw_rec" > "$tw_rec.tw$$.tmp" \
    && mv -f "$tw_rec.tw$$.tmp" "$tw_rec"
fi
kill -s "$tw_sig" -- "-$tw_pid" 2>/dev/null || kill -s "$tw_sig" "$tw_pid" 2>/dev/null
echo "@TW ok"
'''


def signal_script(run_dir: str, pid: int, signal_name: str) -> str:
    return shell_script([_assign("tw_dir", run_dir), _assign("tw_pid", pid), _assign("tw_sig", signal_name)],
                        _SIGNAL_BODY)


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


# The GPUs (uuid, use %, memory used/total MiB) and the process group of each process computing
# on them; "@TW nogpu" without nvidia-smi, "@TW failed" when it cannot reach a driver.
_GPU_BODY = r'''
if ! command -v nvidia-smi >/dev/null 2>&1; then echo "@TW nogpu"; exit 0; fi
echo "@TW gpus"
nvidia-smi --query-gpu=uuid,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits 2>&1 \
  || echo "@TW failed"
echo "@TW apps"
nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>/dev/null |
while IFS=, read -r tw_pid tw_uuid; do
  tw_pid=$(echo $tw_pid)
  tw_group=$(ps -o pgid= -p "$tw_pid" 2>/dev/null | tr -d ' ')
  echo "${tw_group:--},$(echo $tw_uuid)"
done
'''


def gpu_script() -> str:
    return shell_script([], _GPU_BODY)
