// Runs inside the consent page's sandboxed frame: Continue only once the consent box is ticked, and the
// seconds the participant took to tick it recorded with the page's answers.
const box = document.getElementById("consent");
const hint = document.getElementById("hint");
const opened = performance.now();

function update() {
  gymkube.setContinue(box.checked);
  hint.hidden = box.checked;
  if (box.checked) gymkube.setValue("seconds_to_consent", Math.round((performance.now() - opened) / 100) / 10);
}

box.addEventListener("change", update);
update();
