// Runs inside the page's sandboxed frame: Continue only after the right answer; wrong tries are counted.
const feedback = document.getElementById("feedback");
let attempts = 0;
gymkube.setContinue(false);

for (const choice of document.querySelectorAll("input[name=check]")) {
  choice.addEventListener("change", () => {
    attempts += 1;
    const right = choice.value === "waits";
    feedback.textContent = right ? "Right: the game waits for you." : "Not quite; read the first paragraph again.";
    feedback.className = right ? "right" : "wrong";
    gymkube.setValue("attempts", attempts);
    gymkube.setContinue(right);
  });
}
