"""`snowgan --mode studio`: a local web page to explore a trained model (engine.py: the model side;
server.py: the standard-library HTTP server and its JSON API; page.html: the page)."""
