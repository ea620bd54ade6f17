// A destructive action asks first, saying what the guest loses: a form with class "lk-confirm"
// submits only when its data-confirm question is answered yes (with data-confirm-action, only
// when its "action" field has that value). Without scripts the button still works: the server
// never depends on this.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("lk-confirm")) return;
  var only = form.dataset.confirmAction;
  if (only && !(form.elements.action && form.elements.action.value === only)) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});
