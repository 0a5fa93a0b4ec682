/* phone_verify: drives the verification block of a form through the REST API.
 *
 * Progressive enhancement: without this script the block works by plain form posts. With it,
 * "send" and "verify" go through the API without leaving the page, a countdown tells when a
 * new code may be asked for, errors show next to their field, and, when the site has DQE ID
 * Mobile, a button fills the form from the operator (inputs marked data-phone-verify-prefill).
 * Where the browser has the WebOTP API, the code is taken from the SMS and checked by itself.
 * No framework, no build step. Messages come translated from the block's data-msg-* attributes.
 */
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match("(^|;)\\s*" + name + "=([^;]*)");
    return match ? decodeURIComponent(match[2]) : "";
  }

  function api(block, method, path, body) {
    var headers = { "Accept": "application/json", "X-CSRFToken": cookie("csrftoken") };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(block.dataset.api + path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function setup(block) {
    var form = block.closest("form");
    var phoneName = block.dataset.fieldPhone;
    var consentsName = block.dataset.fieldConsents;
    var country = form.querySelector('[name="' + phoneName + '_country"]');
    var number = form.querySelector('[name="' + phoneName + '_number"]');
    var hiddenId = form.querySelector('input[type="hidden"][name$="verification_id"]');
    var codeBox = block.querySelector("[data-pv-code]");
    var codeInput = codeBox.querySelector("input");
    var sendButton = block.querySelector("[data-pv-send]");
    var checkButton = block.querySelector("[data-pv-check]");
    var status = block.querySelector("[data-pv-status]");
    var timer = null;

    function say(text) { status.textContent = text || ""; }
    function error(field, text) {
      var slot = block.querySelector('[data-pv-error="' + field + '"]');
      if (slot) slot.textContent = text || "";
    }
    function clearErrors() {
      block.querySelectorAll("[data-pv-error]").forEach(function (slot) { slot.textContent = ""; });
    }
    function show(answer, fallbackField) {
      var data = answer.data || {};
      var field = (data.code || "").indexOf("consent") >= 0 || data.code === "no_channel_selected"
        ? "consents" : fallbackField;
      error(field, data.detail || block.dataset.msgError);
    }

    function consents() {
      var flags = {};
      form.querySelectorAll('input[type="checkbox"][name^="' + consentsName + '_"]')
        .forEach(function (box) { flags[box.name.slice(consentsName.length + 1)] = box.checked; });
      return flags;
    }

    function countdown(until) {
      clearInterval(timer);
      function tick() {
        var seconds = Math.ceil((new Date(until) - new Date()) / 1000);
        if (!until || seconds <= 0) {
          clearInterval(timer);
          sendButton.disabled = false;
          sendButton.textContent = block.dataset.msgResend;
          return;
        }
        sendButton.disabled = true;
        sendButton.textContent = block.dataset.msgResendIn.replace("%(seconds)s", seconds);
      }
      tick();
      timer = setInterval(tick, 1000);
    }

    // WebOTP: a browser that reads the SMS (its last line "@<this site> #<code>", see
    // WEBOTP_DOMAIN) hands over the code, which is filled in and checked with no typing.
    // Browsers without the API: nothing happens, the user types the code.
    var otpRequest = null;
    function autofill() {
      if (!("OTPCredential" in window) || !navigator.credentials) return;
      if (otpRequest) otpRequest.abort();
      var request = otpRequest = new AbortController();
      navigator.credentials.get({ otp: { transport: ["sms"] }, signal: request.signal })
        .then(function (otp) {
          if (request !== otpRequest || !otp || !otp.code || block.dataset.verified) return;
          codeInput.value = otp.code;
          check();
        }, function () { /* refused, aborted or timed out: the user types the code */ });
    }

    function verified() {
      if (otpRequest) otpRequest.abort();
      block.dataset.verified = "1";
      say(block.dataset.msgVerified);
      codeBox.hidden = true;
      sendButton.hidden = true;
      number.readOnly = true;
    }

    function send(event) {
      event.preventDefault();
      clearErrors();
      say(block.dataset.msgSending);
      sendButton.disabled = true;
      var open = hiddenId.value && block.dataset.phone === number.value + country.value;
      var request = open
        ? api(block, "POST", "verifications/" + hiddenId.value + "/resend/", {})
        : api(block, "POST", "verifications/", {
            phone_number: number.value, country: country.value, consents: consents(),
          });
      request.then(function (answer) {
        if (answer.status === 201 || answer.status === 202) {
          hiddenId.value = answer.data.id;
          block.dataset.phone = number.value + country.value;
          codeBox.hidden = false;
          checkButton.hidden = false;
          codeInput.value = "";
          codeInput.focus();
          say(block.dataset.msgSent);
          countdown(answer.data.resend_available_at);
          autofill();
        } else {
          say("");
          sendButton.disabled = false;
          show(answer, "phone_number");
        }
      }, function () { say(""); sendButton.disabled = false; error("phone_number", block.dataset.msgError); });
    }

    function check() {
      if (!hiddenId.value || !codeInput.value) return;
      clearErrors();
      say(block.dataset.msgChecking);
      api(block, "POST", "verifications/" + hiddenId.value + "/check/", { code: codeInput.value.trim() })
        .then(function (answer) {
          if (answer.status === 200) { verified(); return; }
          say("");
          show(answer, "code");
          // No code arrived: offer a new one (through the fallback provider, if any).
          if (answer.data && answer.data.code === "not_delivered") {
            countdown(answer.data.resend_available_at);
          }
        }, function () { say(""); error("code", block.dataset.msgError); });
    }

    sendButton.addEventListener("click", send);
    checkButton.addEventListener("click", check);
    codeInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); check(); }
    });
    if (hiddenId.value) {
      checkButton.hidden = false;
      block.dataset.phone = number.value + country.value;
    }
    if (block.dataset.verified) verified();
    else if (hiddenId.value) autofill();  // a code was sent by a plain form post

    // Secondary contacts: one row at a time, with an "add a contact" button.
    var secondary = block.querySelector("[data-pv-secondary]");
    if (secondary) {
      var rows = Array.prototype.slice.call(secondary.querySelectorAll("tr[data-pv-contact]"));
      var add = secondary.querySelector("[data-pv-add-contact]");
      var shown = rows.filter(function (row) { return row.hasAttribute("data-pv-used"); }).length;
      rows.forEach(function (row, index) { row.hidden = index >= Math.max(shown, 1); });
      add.hidden = shown >= rows.length;
      add.addEventListener("click", function () {
        var next = rows.filter(function (row) { return row.hidden; })[0];
        if (next) next.hidden = false;
        add.hidden = !rows.some(function (row) { return row.hidden; });
      });
    }

    // Identity prefill (DQE ID Mobile): off to the operator, then back here to fill the form.
    var prefillButton = block.querySelector("[data-pv-prefill]");
    if (prefillButton) {
      prefillButton.hidden = false;
      prefillButton.addEventListener("click", function () {
        clearErrors();
        api(block, "POST", "prefills/", {
          phone_number: number.value, country: country.value, return_url: location.pathname,
        }).then(function (answer) {
          if (answer.status !== 202) { show(answer, "phone_number"); return; }
          sessionStorage.setItem("phone_verify_prefill", answer.data.id);
          location.assign(answer.data.redirect_url);
        });
      });
      var pending = sessionStorage.getItem("phone_verify_prefill");
      if (pending) {
        say(block.dataset.msgPrefilling);
        (function poll() {
          api(block, "GET", "prefills/" + pending + "/").then(function (answer) {
            if (answer.status === 200 && answer.data.status === "pending") {
              setTimeout(poll, 1500);
              return;
            }
            sessionStorage.removeItem("phone_verify_prefill");
            if (answer.data.status === "success") { fill(answer.data.data || {}); say(block.dataset.msgPrefilled); }
            else { say(""); error("phone_number", answer.data.detail || block.dataset.msgError); }
          });
        })();
      }
    }

    function fill(data) {
      form.querySelectorAll("[data-phone-verify-prefill]").forEach(function (input) {
        var value = input.dataset.phoneVerifyPrefill.split(".").reduce(function (node, key) {
          return node && typeof node === "object" ? node[key] : undefined;
        }, data);
        if (value && !input.value) input.value = value;
      });
    }
  }

  function start() { document.querySelectorAll("[data-phone-verify]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
