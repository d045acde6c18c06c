// Survey forms: builds accessible controls for each question and validates answers (validateAnswers is DOM-free).

/** Checks raw form values ({id: string | string[]}) against the questions; returns {answers, errors}. */
export function validateAnswers(questions, raw) {
  const answers = {};
  const errors = {};
  for (const q of questions) {
    const result = checkOne(q, raw[q.id]);
    if (result.error) errors[q.id] = result.error;
    else if (result.value !== undefined) answers[q.id] = result.value;
  }
  return { answers, errors };
}

function checkOne(q, value) {
  const missing = (msg) => (q.required ? { error: msg } : {});
  switch (q.type) {
    case "likert": {
      if (value === undefined || value === "") return missing("Please choose an answer.");
      const n = Number(value);
      return Number.isInteger(n) && n >= 1 && n <= (q.points || 7) ? { value: n } : { error: "Please choose an answer." };
    }
    case "single":
      if (value === undefined || value === "") return missing("Please choose an answer.");
      return (q.options || []).includes(value) ? { value } : { error: "Please choose one of the options." };
    case "multiple": {
      const list = Array.isArray(value) ? value : [];
      if (list.length === 0) return missing("Please choose at least one option.");
      return list.every((v) => (q.options || []).includes(v)) ? { value: list } : { error: "Please choose from the options." };
    }
    case "text": {
      const text = typeof value === "string" ? value : "";
      if (text.trim() === "") return missing("Please answer this question.");
      const max = q.maxLength ?? 1000;
      return text.length > max ? { error: `Please use at most ${max} characters.` } : { value: text };
    }
    case "number": {
      const text = typeof value === "string" ? value.trim() : "";
      if (text === "") return value === null ? { error: "Please enter a number." } : missing("Please enter a number.");
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: "Please enter a number." };
      if (q.integer && !Number.isInteger(n)) return { error: "Please enter a whole number." };
      const { min, max } = q;
      const bad = (min != null && n < min) || (max != null && n > max);
      if (!bad) return { value: n };
      if (min != null && max != null) return { error: `Please enter a number from ${min} to ${max}.` };
      return { error: min != null ? `Please enter a number of at least ${min}.` : `Please enter a number of at most ${max}.` };
    }
    default:
      return {};
  }
}

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
};

// Indices (0-based) of the scale points that get a label: labels spread over the ends and middle.
export function labelPositions(points, count) {
  if (count <= 0) return [];
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.round((i * (points - 1)) / (count - 1)));
}

function choices(q, n, type, values, captions) {
  return el("div", { className: `choices choices-${q.type}` }, ...values.map((value, i) => el("label", { className: "choice" },
    el("input", { type, name: `q${n}`, value: String(value) }), el("span", {}, captions[i] ?? String(value)))));
}

function control(q, n) {
  const id = `q${n}-input`;
  if (q.type === "likert") {
    const points = q.points || 7;
    const captions = Array.from({ length: points }, (_, i) => String(i + 1));
    const ends = labelPositions(points, (q.labels || []).length);
    const row = choices(q, n, "radio", captions, captions);
    ends.forEach((pos, i) => row.children[pos]?.append(el("span", { className: "scale-label" }, q.labels[i])));
    return row;
  }
  if (q.type === "single") return choices(q, n, "radio", q.options || [], []);
  if (q.type === "multiple") return choices(q, n, "checkbox", q.options || [], []);
  if (q.type === "number") {
    return el("input", { id, type: "number", name: `q${n}`, step: q.integer ? "1" : "any", inputMode: q.integer ? "numeric" : "decimal",
      ...(q.min != null && { min: q.min }), ...(q.max != null && { max: q.max }) });
  }
  return el(q.multiline ? "textarea" : "input", { id, name: `q${n}`, maxLength: q.maxLength ?? 1000, ...(q.multiline ? { rows: 4 } : { type: "text" }) });
}

/** Builds the <form>; onSubmit(answers) is called only once the answers pass validation. */
export function buildSurvey(questions, button, onSubmit) {
  const form = el("form", { className: "survey", noValidate: true });
  questions.forEach((q, n) => {
    const grouped = ["likert", "single", "multiple"].includes(q.type);
    const mark = q.required ? null : el("span", { className: "optional" }, " (optional)");
    const box = el(grouped ? "fieldset" : "div", { className: "question" },
      grouped ? el("legend", {}, q.prompt, mark) : el("label", { htmlFor: `q${n}-input` }, q.prompt, mark),
      control(q, n), el("p", { className: "error", id: `q${n}-error`, hidden: true }));
    box.dataset.question = q.id;
    form.append(box);
  });
  form.append(el("p", { className: "error form-error", hidden: true, role: "alert" }),
    el("button", { type: "submit", className: "primary", id: "continue" }, button || "Continue"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { answers, errors } = validateAnswers(questions, readRaw(form, questions));
    if (showErrors(form, errors)) onSubmit(answers);
  });
  return form;
}

function readRaw(form, questions) {
  const raw = {};
  questions.forEach((q, n) => {
    const inputs = [...form.elements].filter((e) => e.name === `q${n}`);
    if (q.type === "multiple") raw[q.id] = inputs.filter((e) => e.checked).map((e) => e.value);
    else if (["likert", "single"].includes(q.type)) raw[q.id] = inputs.find((e) => e.checked)?.value;
    else raw[q.id] = q.type === "number" && inputs[0].validity.badInput ? null : inputs[0].value;
  });
  return raw;
}

/** Shows {questionId: message} next to each question (and unknown keys above the button); true when there are none. */
export function showErrors(form, errors) {
  let first = null;
  const general = [];
  for (const box of form.querySelectorAll(".question")) {
    const msg = errors[box.dataset.question];
    const p = box.querySelector(".error");
    p.hidden = !msg;
    p.textContent = msg || "";
    box.classList.toggle("invalid", Boolean(msg));
    for (const input of box.querySelectorAll("input, textarea")) {
      for (const [attr, value] of [["aria-invalid", "true"], ["aria-describedby", p.id]]) {
        if (msg) input.setAttribute(attr, value); else input.removeAttribute(attr);
      }
    }
    if (msg && !first) first = box.querySelector("input, textarea");
  }
  const known = new Set([...form.querySelectorAll(".question")].map((b) => b.dataset.question));
  for (const [key, msg] of Object.entries(errors || {})) if (!known.has(key)) general.push(msg);
  const formError = form.querySelector(".form-error");
  formError.hidden = general.length === 0;
  formError.textContent = general.join(" ");
  first?.focus();
  return !first && general.length === 0;
}
