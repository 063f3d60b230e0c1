// Package all registers every backend compiled into the program: import it
// for its side effects, as
//
//	import _ "github.com/diynn/diynn/backend/all"
//
// The cpu backend is always included; opencl and cuda join under the build
// tags of the same name.
package all

import _ "github.com/diynn/diynn/backend/cpu" // always available
