// The platform's confirmation box: ElMessageBox.confirm as a warning with 取消 (or
// cancelText). Resolves true when confirmed, false when cancelled or closed, so that a
// caller says `if (!await confirmed(…)) return`. Its own module, so that pages without a
// confirmation (登录) do not load the message box.
import { ElMessageBox } from 'element-plus'

export function confirmed(message, title, confirmText, cancelText = '取消') {
  return ElMessageBox.confirm(message, title, { confirmButtonText: confirmText, cancelButtonText: cancelText, type: 'warning' })
    .then(() => true, () => false)
}
