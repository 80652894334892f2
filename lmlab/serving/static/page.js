// The lmlab page: asks /predict as you type (debounced) and shows what the predictor answers.
// Language models: next-word suggestions (Tab accepts the first) and a continuation streamed from
// /generate as server-sent events. Taggers: the tokens with their tags and the labelled spans.
// Anything else: the JSON output. No build step: plain browser JavaScript.
"use strict";

const DEBOUNCE_MS = 150;
const SHOWN = 8;            // suggestions listed
const COMPLETING_TOP_K = 200; // candidates fetched to complete a half-typed word

const $ = (id) => document.getElementById(id);
const prompt = $("prompt");
let predictorName = null;
let suggestions = [];       // [{token, probability}] shown now, best first
let latest = 0;             // number of the newest /predict request: older answers are dropped
let timer = null;
let streaming = null;       // AbortController of the running /generate stream

async function postJson(path, body, signal) {
  const response = await fetch(path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), signal,
  });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({error: response.statusText}));
    throw new Error(answer.error || response.statusText);
  }
  return response;
}

// "the cat sa" -> context "the cat ", partial "sa": suggestions then complete "sa" after "the cat".
function splitPrompt(text) {
  const match = text.match(/^([\s\S]*?)(\S*)$/);
  return {context: match[1], partial: match[2]};
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, DEBOUNCE_MS);
}

async function update() {
  const number = ++latest;
  const text = prompt.value;
  const isLm = predictorName === "language_model";
  const {context, partial} = isLm ? splitPrompt(text) : {context: text, partial: ""};
  if (!context.trim()) {
    renderSuggestions([], partial);
    setStatus(text.trim() && isLm ? "keep typing: suggestions follow the first word" : "");
    return;
  }
  const body = isLm ? {sentence: context, top_k: partial ? COMPLETING_TOP_K : SHOWN} : {sentence: context};
  try {
    const output = await (await postJson("/predict", body)).json();
    if (number !== latest) return;
    render(output, partial);
  } catch (error) {
    if (number !== latest) return;
    renderSuggestions([], partial);
    setStatus(error.message, true);
  }
}

function render(output, partial) {
  if (output.next_tokens) {
    renderSuggestions(output.next_tokens, partial);
    const score = output.perplexity !== undefined
      ? `perplexity ${output.perplexity.toFixed(1)} over ${output.scored_tokens} tokens` : "";
    setStatus(score);
  } else if (output.spans || output.tags) {
    $("spans-card").hidden = false;
    renderSpans(output);
    setStatus("");
  } else {
    $("json-card").hidden = false;
    $("json").textContent = JSON.stringify(output, null, 2);
    setStatus("");
  }
}

function renderSuggestions(candidates, partial) {
  suggestions = candidates.filter((c) => c.token.startsWith(partial)).slice(0, SHOWN);
  const list = $("suggestions");
  list.replaceChildren();
  const top = suggestions.length ? suggestions[0].probability : 1;
  suggestions.forEach((candidate, rank) => {
    const item = document.createElement("li");
    item.className = "suggestion" + (rank === 0 ? " first" : "");
    item.title = rank === 0 ? "Tab or click to accept" : "click to accept";
    const token = document.createElement("span");
    token.className = "token";
    token.textContent = candidate.token;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.setProperty("--fill", `${Math.max(2, 100 * candidate.probability / top)}%`);
    const probability = document.createElement("span");
    probability.className = "probability";
    probability.textContent = `${(100 * candidate.probability).toFixed(1)}%`;
    item.append(token, bar, probability);
    item.addEventListener("mousedown", (event) => { event.preventDefault(); accept(candidate.token); });
    list.append(item);
  });
  if (!suggestions.length && partial) {
    const none = document.createElement("li");
    none.className = "none";
    none.textContent = `no known word starts with “${partial}”`;
    list.append(none);
  }
}

function accept(token) {
  prompt.value = splitPrompt(prompt.value).context + token + " ";
  prompt.focus();
  prompt.setSelectionRange(prompt.value.length, prompt.value.length);
  clearTimeout(timer);
  update();
}

prompt.addEventListener("input", schedule);
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Tab" && !event.shiftKey && suggestions.length && predictorName === "language_model") {
    event.preventDefault();
    accept(suggestions[0].token);
  }
});

// --- continuation, streamed as server-sent events ---------------------------------------------------
async function streamContinuation() {
  if (streaming) { streaming.abort(); return; }
  const sentence = prompt.value.trim();
  const out = $("continuation");
  out.replaceChildren();
  delete out.dataset.done;
  $("insert").disabled = true;
  if (!sentence) { setStatus("type something to continue", true); return; }
  const context = document.createElement("span");  // the prompt's last words, to read the continuation in place
  context.className = "context";
  const words = sentence.split(/\s+/);
  context.textContent = (words.length > 8 ? "… " : "") + words.slice(-8).join(" ");
  out.append(context);
  const greedy = $("greedy").checked;
  const body = {sentence, max_tokens: Number($("max-tokens").value), stream: true,
                ...(greedy ? {greedy: true} : {temperature: Number($("temperature").value)})};
  streaming = new AbortController();
  $("continue").textContent = "Stop ■";
  out.classList.add("streaming");
  try {
    const response = await postJson("/generate", body, streaming.signal);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)), out);
        }
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") setStatus(error.message, true);
  } finally {
    streaming = null;
    $("continue").textContent = "Continue ▸";
    out.classList.remove("streaming");
    $("insert").disabled = !generatedText();
  }
}

function onEvent(data, out) {
  if (data.token !== undefined) {
    const token = document.createElement("span");
    token.className = "generated";
    token.textContent = " " + data.token;
    out.append(token);
  } else if (data.done) {
    out.dataset.done = "true";
  } else if (data.error) {
    setStatus(data.error, true);
  }
}

function generatedText() {
  return Array.from(document.querySelectorAll("#continuation .generated"), (token) => token.textContent).join("").trim();
}

$("continue").addEventListener("click", streamContinuation);
$("insert").addEventListener("click", () => {
  prompt.value = prompt.value.replace(/\s*$/, " ") + generatedText() + " ";
  $("continuation").replaceChildren();
  $("insert").disabled = true;
  prompt.focus();
  update();
});
$("greedy").addEventListener("change", () => { $("temperature").disabled = $("greedy").checked; });

// --- taggers --------------------------------------------------------------------------------------------
function labelColour(label) {
  let hash = 0;
  for (const char of label) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 70% 88%)`;
}

function renderSpans(output) {
  const tagged = $("tagged");
  tagged.replaceChildren();
  (output.tokens || []).forEach((text, i) => {
    const tag = output.tags ? output.tags[i] : "O";
    const label = tag.replace(/^[BIESLU]-/, "");
    const token = document.createElement("span");
    token.className = "tagged-token";
    if (tag === "O") token.classList.add("outside");
    else token.style.background = labelColour(label);
    const word = document.createElement("span");
    word.textContent = text;
    const small = document.createElement("small");
    small.textContent = tag;
    token.append(word, small);
    tagged.append(token);
  });
  const spans = $("spans");
  spans.replaceChildren();
  for (const span of output.spans || []) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "span-label";
    label.style.background = labelColour(span.label);
    label.textContent = span.label;
    item.append(label, ` ${span.text}`);
    spans.append(item);
  }
}

// --- start: the predictor's name picks the mode -------------------------------------------------------
(async () => {
  try {
    const info = await (await fetch("/info")).json();
    predictorName = info.predictor;
    $("model").textContent = `${info.predictor} · ${info.model}`;
    const isLm = predictorName === "language_model";
    $("suggestions-card").hidden = !isLm;
    $("generate-card").hidden = !isLm;
    document.body.dataset.mode = isLm ? "language_model" : "other";
    if (!isLm) prompt.placeholder = "Type a sentence";
    if (prompt.value) update();
  } catch (error) {
    setStatus(`cannot reach the server: ${error.message}`, true);
  }
})();
