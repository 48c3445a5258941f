from phovea_server.ns import Namespace, no_cache
from phovea_server.security import current_user, login_required
from phovea_server.util import jsonify

app = Namespace(__name__)


@app.route('/whoami')
@no_cache
@login_required
def whoami():
  user = current_user()
  return jsonify({'name': user.name, 'roles': user.roles, 'nan': float('nan')})


def create():
  return app
