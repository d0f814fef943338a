# bash completion for castor-relay(8): installed as
# /usr/share/bash-completion/completions/castor-relay by the castor package.

_castor_relay() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  case $prev in
  -f | --config)
    COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -- "$cur"))
    return
    ;;
  -u | --socket)
    COMPREPLY=($(compgen -f -- "$cur"))
    return
    ;;
  --state-directory)
    COMPREPLY=($(compgen -d -- "$cur"))
    return
    ;;
  -l | --log-level)
    COMPREPLY=($(compgen -W "none err warn notice info debug" -- "$cur"))
    return
    ;;
  --log-target)
    COMPREPLY=($(compgen -W "stderr syslog file:" -- "$cur"))
    [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == file: ]] && compopt -o nospace
    return
    ;;
  esac
  COMPREPLY=($(compgen -W "-f --config -t --check-config --print-config -u --socket -l --log-level --log-target --state-directory -n --foreground --version -h --help" -- "$cur"))
}
complete -F _castor_relay castor-relay
