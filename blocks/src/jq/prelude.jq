# runnel's prelude: jq 1.8 definitions that jaq lacks or defines otherwise, loaded after jaq's
# own (a later definition hides an earlier one of the same name and arity, for the definitions
# after it only: define a name before the ones that call it). Names starting
# with `__runnel_` are runnel's natives (module `natives`); `__jaq_` ones are jaq's natives
# under a second name, for the definitions here that wrap them.

# What this build has: jaq keeps integers and the number literals of a program exactly, as jq
# built with decNumber does (arithmetic on floats is in 64-bit floats).
def have_literal_numbers: true;
def have_decnum: true;

# Conversions.
def tojson: __runnel_tojson;
def tostring: __runnel_tostring;
def tonumber: __runnel_tonumber;
def toboolean:
  if type == "boolean" then .
  elif . == "true" then true
  elif . == "false" then false
  else error("\(type) (\(tojson)) cannot be parsed as a boolean") end;
def toarray: if type == "array" then . else [.] end;
# jq keeps a number literal beyond a float's range (`1E+1000`) as `abs` does; jaq's makes it a float.
def length: __runnel_length;
def fromjson:
  if . == "nan" or . == "NaN" or . == "-nan" or . == "-NaN" then nan
  else . as $text | [__runnel_parse_depth | __jaq_fromjson]
    | if length == 1 then .[0] else error("Unexpected extra JSON values (while parsing '\($text)')") end end;
def from_entries:
  reduce .[] as $x ({};
    . + { ($x | if type == "object" then (if has("key") then .key elif has("k") then .k elif has("name") then .name
                                         elif has("Name") then .Name elif has("Key") then .Key elif has("K") then .K else null end)
                   else . end
                 | if type == "string" then . elif type == "null" then "null" else tojson end):
          ($x | if type == "object" then (if has("value") then .value elif has("v") then .v elif has("Value") then .Value
                                          elif has("V") then .V else null end)
                else null end) });

# SQL-style helpers.
def IN(s): any(s == .; .);
def IN(source; s): any(source == s; .);
def INDEX(stream; key): reduce stream as $row ({}; .[$row | key | tostring] |= $row);
def INDEX(key): INDEX(.[]; key);
def JOIN($index; key): [.[] | [., $index[key]]];
def JOIN($index; stream; key): stream | [., $index[key]];
def JOIN($index; stream; key; join): stream | [., $index[key]] | join;

# Strings.
def ltrimstr($prefix):
  if isstring and ($prefix | isstring) then __jaq_ltrimstr($prefix)
  else error("startswith() requires string inputs") end;
def rtrimstr($suffix):
  if isstring and ($suffix | isstring) then __jaq_rtrimstr($suffix)
  else error("endswith() requires string inputs") end;
def trimstr($s): ltrimstr($s) | rtrimstr($s);
def trim: if isstring then __jaq_trim else error("trim input must be a string") end;
def ltrim: if isstring then __jaq_ltrim else error("trim input must be a string") end;
def rtrim: if isstring then __jaq_rtrim else error("trim input must be a string") end;
def ascii: [.] | implode;
def utf8bytelength:
  if isstring then __jaq_utf8bytelength
  else error("\(type) (\(tojson)) only strings have UTF-8 byte length") end;
def _strindices($i):
  if type != "string" then error("\(type) (\(tojson)) cannot be searched, as it is not a string")
  elif ($i | type) != "string" then error("\($i | type) (\($i | tojson)) is not a string")
  else indices($i) end;
def join($sep):
  reduce .[] as $x (null;
    (if . == null then "" else . + $sep end)
      + ($x | if . == null then "" elif isstring then . elif isboolean or isnumber then tojson else . end))
  // "";
def implode:
  if type != "array" then error("implode input must be an array")
  else map(if type != "number" then error("\(type) (\(tojson)) can't be imploded, unicode codepoint needs to be numeric")
           elif . < 0 or . > 1114111 or (. >= 55296 and . <= 57343) then 65533
           else floor end)
       | __jaq_implode end;
# Formats write numbers as `tostring` does here (jaq's are defined on its own `tostring`).
def @text: __runnel_tostring;
def @json: __runnel_tojson;
def @html: __runnel_tostring | escape_html;
def @uri: __runnel_tostring | encode_uri;
def @base64: __runnel_tostring | encode_base64;
def @sh:
  [if isarray then .[] end
   | if isstring then "'" + escape_sh + "'"
     elif isarray or isobject then error("\(type) (\(tojson)) can not be escaped for shell")
     else __runnel_tojson end]
  | join(" ");
def @csv: __runnel_format("csv");
def @tsv: __runnel_format("tsv");
def @base32: __runnel_format("base32");
def @base32d: __runnel_format("base32d");

# Generators.
def limit($n; f):
  if $n > 0 then __jaq_limit($n; f) elif $n == 0 then empty
  else error("limit doesn't support negative count") end;
def skip($n; f):
  if $n >= 0 then __jaq_skip($n; f) else error("skip doesn't support negative count") end;
def nth($n; f):
  if $n < 0 then error("nth doesn't support negative indices") else first(skip($n; f)) end;

# Arrays. Values nested deeper than jq walks are jq's errors (module `natives::deep`).
def sort: __runnel_comparable | __jaq_sort;
def unique: __runnel_comparable | unique_by(.);
def contains($b): __runnel_containable($b) | __jaq_contains($b);
def bsearch($target):
  if isarray then __jaq_bsearch($target)
  else error("\(type) (\(tojson)) cannot be searched from") end;

# Paths.
def getpath($path):
  if ($path | isarray) and ($path | length) > 10000 then error("Path too deep")
  else reduce $path[] as $key (.; .[$key]) end;
def setpath($p; $v): __runnel_path_keys($p) | getpath($p) = $v;
def pick(pathexps): . as $top | reduce path(pathexps) as $p (null; setpath($p; $top | getpath($p)));
def delpaths($paths): __runnel_delpaths($paths);
def del(f): delpaths([path(f)]);
def leaf_paths: paths(scalars);
def tostream:
  def events($at):
    if (type == "array" or type == "object") and length > 0 then
      keys_unsorted as $keys
      | ($keys[] as $k | .[$k] | events($at + [$k])), [$at + [$keys[-1]]]
    else [$at, .] end;
  events([]);
def fromstream(events):
  foreach events as $event ({value: null, done: false};
    if .done then {value: null, done: false} end
    | if ($event | length) == 2 then
        if ($event[0] | length) == 0 then {value: $event[1], done: true}
        else .value |= setpath($event[0]; $event[1]) end
      elif ($event[0] | length) == 1 then .done = true
      end;
    select(.done) | .value);
def truncate_stream(events): . as $depth | events | select((.[0] | length) > $depth) | .[0] |= .[$depth:];

# Numbers.
def flatten($depth):
  if $depth < 0 then error("flatten depth must not be negative")
  else reduce .[] as $x ([]; if ($x | type) == "array" and $depth > 0 then . + ($x | flatten($depth - 1)) else . + [$x] end) end;
def has($key): if $key | isnan then false else __jaq_has($key) end;

# Dates: jq fills a broken-down time shorter than 8 numbers with zeros, and words its errors.
def __runnel_broken_down($name):
  if type == "array" and all(type == "number") then . + [range(8 - length) | 0]
  elif type == "number" and $name != "mktime" then .
  else error("\($name) requires parsed datetime inputs") end;
def mktime: __runnel_broken_down("mktime") | __jaq_mktime;
def strftime($format):
  if ($format | type) != "string" then error("strftime/1 requires a string format")
  else __runnel_broken_down("strftime/1") | __jaq_strftime($format) end;
def strflocaltime($format):
  if ($format | type) != "string" then error("strflocaltime/1 requires a string format")
  else __runnel_broken_down("strflocaltime/1") | __jaq_strflocaltime($format) end;
def date: todate;
def dateadd(u; n): . + n;
def datesub(u; n): . - n;

# One message is the whole input: there are no others, no file and no modules.
def input: error("No more inputs");
def inputs: empty;
def input_filename: null;
def input_line_number: 0;
def get_search_list: [];
def get_prog_origin: null;
def get_jq_origin: null;
def builtins: __runnel_builtins;
