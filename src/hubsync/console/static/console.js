// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // ask before a bulk action
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  // the portal switcher submits on change
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
