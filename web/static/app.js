// The few things plain JavaScript does on these pages; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Subscriber registration: show the fields of the chosen kind only.
  const kind = document.getElementById("kind");
  if (kind && document.getElementById("register-form")) {
    const sync = () => {
      document.querySelectorAll("#register-form [data-kind]").forEach((el) => {
        el.hidden = el.dataset.kind !== kind.value;
      });
    };
    kind.addEventListener("change", sync);
    sync();
  }
  // Setting one's passphrase: the link in the message carries the code in its fragment (never
  // sent to the server, so in no log); copy it into the form and drop it from the address bar.
  const code = document.getElementById("code");
  const kode = new URLSearchParams(window.location.hash.slice(1)).get("kode");
  if (code && kode) {
    code.value = kode;
    history.replaceState(null, "", window.location.pathname);
  }
  // Certificate status change: a reason only applies to a revocation.
  const action = document.getElementById("action");
  const reason = document.getElementById("reason");
  if (action && reason) {
    const sync = () => { reason.disabled = action.value !== "revoke"; };
    action.addEventListener("change", sync);
    sync();
  }
});
