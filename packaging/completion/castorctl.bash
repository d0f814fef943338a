# bash completion for castorctl(8): installed as
# /usr/share/bash-completion/completions/castorctl by the castor package.
# Rule names (remove) and actor paths (kill) are asked of the running relay,
# on the socket given with -u if any.

_castorctl_socket() {
  local i
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    case ${COMP_WORDS[i]} in
    -u | --socket) echo "${COMP_WORDS[i + 1]}" && return ;;
    --socket=*) echo "${COMP_WORDS[i]#--socket=}" && return ;;
    esac
  done
}

# _castorctl_ask VERB: the first column of `castorctl VERB`, headings off.
_castorctl_ask() {
  local sock
  sock=$(_castorctl_socket)
  "${COMP_WORDS[0]}" ${sock:+-u "$sock"} -t 2 "$1" 2>/dev/null |
    awk 'NR > 1 && $1 != "" { print $1 }'
}

_castorctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local verbs="list stats workers tree ping version reload add remove kill config log-level groups status diagnose watch peers"
  local global="-u --socket --json --plain -t --timeout -V --version -h --help"
  COMPREPLY=()

  case $prev in
  -u | --socket | --from)
    COMPREPLY=($(compgen -f -- "$cur"))
    return
    ;;
  -t | --timeout | --name | --in | --out | --look | -n | --interval | -c | --count) return ;;
  esac

  # The positional words before the cursor (options and their values
  # skipped): the verb, then its arguments.
  local i pos=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
    -u | --socket | -t | --timeout | --name | --in | --out | --from | --look | -n | --interval | -c | --count) ((i++)) ;;
    -*) ;;
    *) pos+=("${COMP_WORDS[i]}") ;;
    esac
  done
  local verb=${pos[0]:-} nargs=$((${#pos[@]} - 1)) sub=${pos[1]:-}

  case $verb in
  "")
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$global" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
    fi
    ;;
  add) COMPREPLY=($(compgen -W "--name --in --out --from" -- "$cur")) ;;
  remove)
    ((nargs == 0)) && COMPREPLY=($(compgen -W "$(_castorctl_ask list)" -- "$cur"))
    ;;
  kill)
    ((nargs == 0)) && COMPREPLY=($(compgen -W "$(_castorctl_ask tree)" -- "$cur"))
    ;;
  diagnose)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--look" -- "$cur"))
    elif ((nargs == 0)); then
      COMPREPLY=($(compgen -W "$(_castorctl_ask list)" -- "$cur"))
    fi
    ;;
  watch)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "-n --interval -c --count" -- "$cur"))
    elif ((nargs == 0)); then
      COMPREPLY=($(compgen -W "stats groups workers status" -- "$cur"))
    fi
    ;;
  config)
    if ((nargs == 0)); then
      COMPREPLY=($(compgen -W "show save" -- "$cur"))
    elif [[ $sub == save && nargs -eq 1 ]]; then
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    ;;
  log-level)
    if ((nargs == 0)); then
      COMPREPLY=($(compgen -W "all relay forwarder control config" -- "$cur"))
    elif ((nargs == 1)); then
      COMPREPLY=($(compgen -W "none err warn notice info debug" -- "$cur"))
    fi
    ;;
  esac
  return 0
}
complete -F _castorctl castorctl
