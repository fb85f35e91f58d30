'use strict';

// Server-rendered login and registration forms.

const escape = (s) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const layout = (title, body) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Parley (Node baseline)</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 22rem; margin: 4rem auto; padding: 0 1rem; }
  label, input, button { display: block; width: 100%; box-sizing: border-box; }
  input { margin: .25rem 0 .75rem; padding: .4rem; }
  button { padding: .5rem; }
  .error { color: #b00020; }
</style>
</head>
<body>
${body}
</body>
</html>`;

const errorLine = (error) => (error ? `<p class="error" role="alert" data-testid="form-error">${escape(error)}</p>` : '');

function loginPage({ error, username } = {}) {
  return layout(
    'Log in',
    `<h2>Log in</h2>
${errorLine(error)}
<form method="post" action="/login">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" required value="${escape(username)}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Log in</button>
</form>
<p>New here? <a href="/register">Create an account</a></p>`,
  );
}

function registerPage({ error, username, email, display_name } = {}) {
  return layout(
    'Register',
    `<h2>Create an account</h2>
${errorLine(error)}
<form method="post" action="/register">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" required value="${escape(username)}" autofocus>
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="${escape(email)}">
  <label for="display_name">Display name (optional)</label>
  <input id="display_name" name="display_name" value="${escape(display_name)}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8">
  <button type="submit">Create account</button>
</form>
<p>Already registered? <a href="/login">Log in</a></p>`,
  );
}

module.exports = { loginPage, registerPage };
